/**
 * Network-layer constants (datagrams, fragments, connection, RTT, SSP
 * transport), each with its unit and Mosh 1.4's name, so they can be compared
 * with Mosh's source in one place (mosh: src/network/network.h,
 * transportsender.h, transportfragment.h, compressor.h).
 * @module
 */

import { U64_MAX } from "../protobufs/messages.ts";

/** Protocol version carried in every Instruction (mosh: MOSH_PROTOCOL_VERSION). */
export const PROTOCOL_VERSION = 2;

/** Nonce bytes carried on the wire, bytes (mosh: Nonce::NONCE_LEN - 4). */
export const WIRE_NONCE_BYTES = 8;

/** Largest datagram a stock peer accepts, bytes (mosh: Session::RECEIVE_MTU). */
export const RECEIVE_MTU = 2048;

/** Application MTU for IPv4, bytes of UDP payload (mosh: Connection::DEFAULT_IPV4_MTU). */
export const DEFAULT_IPV4_MTU = 1252;

/** Application MTU for IPv6, bytes of UDP payload (mosh: Connection::DEFAULT_IPV6_MTU). */
export const DEFAULT_IPV6_MTU = 1216;

/** Application MTU before the family is known or after EMSGSIZE, bytes (mosh: Connection::DEFAULT_SEND_MTU). */
export const DEFAULT_SEND_MTU = 500;

/** Per-datagram overhead before the fragment: nonce 8 + timestamps 4, bytes (mosh: Connection::ADDED_BYTES). */
export const ADDED_BYTES = 8 + 4;

/** Fragment header length: id 8 + final/num 2, bytes (mosh: Fragment::frag_header_len). */
export const FRAG_HEADER_BYTES = 10;

/** Largest decompressed instruction accepted, bytes (mosh: Compressor, 2048*2048). */
export const MAX_UNCOMPRESSED = 2048 * 2048;

/** Timestamp value meaning "none", 16-bit ms (mosh: uint16_t(-1)). */
export const TIMESTAMP_NONE = 0xffff;

/** Direction bit value for datagrams to the server (mosh: TO_SERVER). */
export const TO_SERVER = 0;

/** Direction bit value for datagrams to the client (mosh: TO_CLIENT). */
export const TO_CLIENT = 1;

/** State number that signals shutdown, 2^64-1 (mosh: uint64_t(-1)). */
export const SHUTDOWN_NUM = U64_MAX;

/** Lowest port of the server's default search range (mosh: PORT_RANGE_LOW). */
export const PORT_RANGE_LOW = 60001;

/** Highest port of the server's default search range (mosh: PORT_RANGE_HIGH). */
export const PORT_RANGE_HIGH = 60999;

/** Server drops a silent client's address after this, ms (mosh: SERVER_ASSOCIATION_TIMEOUT). */
export const SERVER_ASSOCIATION_TIMEOUT = 40000;

/** Client opens a new source port after this long without a round trip, ms (mosh: PORT_HOP_INTERVAL). */
export const PORT_HOP_INTERVAL = 10000;

/** Client keeps at most this many sockets (mosh: MAX_PORTS_OPEN). */
export const MAX_PORTS_OPEN = 10;

/** Client closes old sockets this long after a hop, ms (mosh: MAX_OLD_SOCKET_AGE). */
export const MAX_OLD_SOCKET_AGE = 60000;

/** Lower bound of the retransmission timeout, ms (mosh: MIN_RTO). */
export const MIN_RTO = 50;

/** Upper bound of the retransmission timeout, ms (mosh: MAX_RTO). */
export const MAX_RTO = 1000;

/** SRTT before any sample, ms (mosh: Connection ctor, SRTT). */
export const INITIAL_SRTT = 1000;

/** RTTVAR before any sample, ms (mosh: Connection ctor, RTTVAR). */
export const INITIAL_RTTVAR = 500;

/** RTT samples at or above this are ignored, ms (mosh: Connection::recv_one). */
export const MAX_RTT_SAMPLE = 5000;

/** A held peer timestamp is echoed only within this, ms (mosh: Connection::new_packet). */
export const TIMESTAMP_ECHO_WINDOW = 1000;

/** Congestion (ECN CE) penalty added to the echoed timestamp, ms (mosh: CONGESTION_TIMESTAMP_PENALTY). */
export const CONGESTION_TIMESTAMP_PENALTY = 500;

/** Shortest send interval, ms (mosh: SEND_INTERVAL_MIN). */
export const SEND_INTERVAL_MIN = 20;

/** Longest send interval, ms (mosh: SEND_INTERVAL_MAX). */
export const SEND_INTERVAL_MAX = 250;

/** Empty ack interval when idle, ms (mosh: ACK_INTERVAL). */
export const ACK_INTERVAL = 3000;

/** Delay before acking new data, ms (mosh: ACK_DELAY). */
export const ACK_DELAY = 100;

/** Stop retransmitting this long after the peer was last heard, ms (mosh: ACTIVE_RETRY_TIMEOUT). */
export const ACTIVE_RETRY_TIMEOUT = 10000;

/** Shutdown is abandoned after this many sends (mosh: SHUTDOWN_RETRIES). */
export const SHUTDOWN_RETRIES = 16;

/** Shutdown is abandoned after this long, ms (mosh: shutdown_ack_timed_out). */
export const SHUTDOWN_TIMEOUT = 10000;

/** Collection delay on the server, ms (mosh: SEND_MINDELAY). */
export const SEND_MINDELAY_SERVER = 8;

/** Collection delay on the client, ms (mosh: stmclient.cc set_send_delay(1)). */
export const SEND_MINDELAY_CLIENT = 1;

/** Largest chaff, bytes (mosh: make_chaff CHAFF_MAX). */
export const CHAFF_MAX = 16;

/** Sent-state queue length that triggers pruning (mosh: send_to_receiver, 32). */
export const SENT_STATES_MAX = 32;

/** Receiver holds at most this many states before quenching (mosh: Transport::recv, 1024). */
export const RECEIVED_STATES_MAX = 1024;

/**
 * Held peer states beyond this many bytes (their byteSize() estimates) make
 * the receiver drop its oldest held states, except the sender's fallback base
 * and the newest, bytes (tmosh only: mosh bounds the count alone, and 1024
 * screens of 1024x1024 cells are about 13 GB).
 */
export const RECEIVED_STATES_BYTES_MAX = 16 * 1024 * 1024;

/** Quench period once the receiver queue is full, ms (mosh: Transport::recv, 15000). */
export const RECEIVER_QUENCH = 15000;

/**
 * A key prepared for another client (tmosh's attach, docs/wire.md §15) is
 * dropped when no authentic datagram arrived under it within this long, ms
 * (tmosh only).
 */
export const PENDING_KEY_TIMEOUT = 60_000;
