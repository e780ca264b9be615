/**
 * The datagram examples of docs/wire.md §11 (key, payloads and sealed
 * datagrams in both directions), shared by the datagram tests.
 * @module
 */

import { decodeKey } from "../protocol/crypto/key.ts";
import { fromHex } from "./hex.ts";

/** The key of the docs/wire.md §11 examples. */
export const KEY = decodeKey("AAECAwQFBgcICQoLDA0ODw");

/** §11 client → server, first packet. */
export const C2S_PAYLOAD = fromHex(
  "0000000000000001 8000 789ce360126090605460d06030e2e0629362d1083090b0620000105301de",
);
/** §11 client → server, first packet, sealed. */
export const C2S_DATAGRAM = fromHex(
  "0000000000000000" +
    "9f164d976357081cc1c8bceef905db5a02428c8571949d686f4420ca31f0060ca43d50ffb19e12e522a8cf6e" +
    "73fd36a91f68ecf470d119b52ed349b9",
);
/** §11 server → client. */
export const S2C_PAYLOAD = fromHex(
  "0000000000000001 8000 789ce360126090605460d46030e2e362b1627260e46213625162cac8b46200001c28029d",
);
/** §11 server → client, sealed. */
export const S2C_DATAGRAM = fromHex(
  "8000000000000000" +
    "6d12074b42365865fb44a279ed68eec1d183705a31dd0a6d4799e8b555af19be8251ce6103b1b50bbf116b775d990a8aadc7" +
    "4af9c52eb9de136c3b0b0a31d0ef653b",
);
