// Every name the UI shares with a backend. Commands and paths are generated from the core's
// operations table (`ui/src/bindings/operations.ts`, `cargo test -p headroom-core
// export_bindings`); the app emits and `/api/stream` sends the events under EVENTS.

export { COMMANDS, EVENTS, METHODS, PATHS } from '../bindings/operations';
// (The app shows a view by setting the URL hash — `#alerts` — which the UI follows.)
