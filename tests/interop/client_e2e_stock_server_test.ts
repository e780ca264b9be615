/**
 * End to end through a real terminal (tmux) and the private sshd: tmosh connect --server=mosh-server -> stock mosh-server
 * (docs/architecture.md §6.2): echo, vi, resize, CJK/combining/colour, the remote command's
 * exit, and Ctrl-^ . leaving no server behind.
 * @module
 */

import { registerClientE2e } from "../../harness/client_session.ts";

registerClientE2e(
  "stock-server",
  "tmosh connect --server=mosh-server -> stock mosh-server",
);
