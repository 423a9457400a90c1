// Package interop tests wsx against WebSocket implementations it did not
// write: Node's ws, Python's websockets, Chromium's own WebSocket and the
// libwebsockets test client. Each peer runs as a separate process; the
// scripts under testdata drive it and report what it actually saw on the
// wire as JSON lines, which the tests check.
//
// The peers are installed by scripts/test. A missing peer fails the tests
// instead of skipping them, so that a machine without them cannot pass.
package interop
