/**
 * End to end through a real terminal (tmux) and the private sshd: stock mosh --client=tmosh client -> stock mosh-server
 * (docs/architecture.md §6.2): echo, vi, resize, CJK/combining/colour, the remote command's
 * exit, and Ctrl-^ . leaving no server behind.
 * @module
 */

import { registerClientE2e } from "../../harness/client_session.ts";

registerClientE2e(
  "stock-wrapper",
  "stock mosh --client=tmosh client -> stock mosh-server",
);
