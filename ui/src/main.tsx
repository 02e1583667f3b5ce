import { render } from 'preact';
import { App } from './views/App';
import { Store } from './store';
import { detectTransport } from './transport';
// uPlot's stylesheet is part of the main one: a stylesheet the lazy chart chunk added would
// hold back WebKit's first paint until it loaded.
import 'uplot/dist/uPlot.min.css';
import './styles.css';

performance.mark('headroom:start');
const root = document.getElementById('app')!;

/** The longest the first frame waits for a first sample (then it says it is waiting). */
const FIRST_SAMPLE_WAIT_MS = 1000;

detectTransport().then(async (transport) => {
  const store = new Store(transport);
  store.start();
  // The first frame shows a sample (the app's sample is there in a few ms), not a "waiting"
  // frame followed by the real one one frame later.
  await store.firstSample(FIRST_SAMPLE_WAIT_MS);
  render(<App store={store} />, root);
  // After the frame that shows it: the app shows a new popover then (WebKitGTK reports the
  // title the page sets about 85 ms later than a command arrives).
  if (store.state.snapshot) requestAnimationFrame(() => setTimeout(() => transport.painted?.(), 0));
  // Leave the page cleanly (Tauri reloads, bfcache): close the stream, unlisten.
  addEventListener('pagehide', () => store.close());
});
