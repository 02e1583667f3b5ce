import { render } from 'preact';
import { App } from './views/App';
import { Store } from './store';
import { detectTransport } from './transport';
import './styles.css';

performance.mark('headroom:start');
const root = document.getElementById('app')!;

detectTransport().then((transport) => {
  const store = new Store(transport);
  store.start();
  render(<App store={store} />, root);
  // Leave the page cleanly (Tauri reloads, bfcache): close the stream, unlisten.
  addEventListener('pagehide', () => store.close());
});
