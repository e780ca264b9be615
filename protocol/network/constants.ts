/**
 * Network-layer constants (datagrams, fragments, connection, RTT, SSP
 * transport), each with its unit and Mosh 1.4's name, so they can be compared
 * with Mosh's source in one place (mosh: src/network/network.h,
 * transportsender.h, transportfragment.h, compressor.h).
 * @module
 */

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
/**
 * Instructions at least this long are compressed at zlib level 3, not
 * Mosh's default 6, bytes (tmosh: a scrollback flood's slices compress as well
 * at 3, a quarter faster; any zlib stream inflates the same at the peer).
 */
export const COMPRESS_FAST_BYTES = 16 * 1024;
/** zlib level for instructions of COMPRESS_FAST_BYTES or more. */
export const COMPRESS_FAST_LEVEL = 3;
/**
 * Instructions shorter than this are sent as a zlib stream of one stored
 * block (level 0), bytes (tmosh: heartbeats and acks, where deflate saves at
 * most a few bytes and node:zlib costs most of an idle process's JavaScript
 * time; protocol/network/zlib_stored.ts).
 */
export const COMPRESS_STORED_BELOW_BYTES = 64;

/** Timestamp value meaning "none", 16-bit ms (mosh: uint16_t(-1)). */
export const TIMESTAMP_NONE = 0xffff;

/** Direction bit value for datagrams to the server (mosh: TO_SERVER). */
export const TO_SERVER = 0;

/** Direction bit value for datagrams to the client (mosh: TO_CLIENT). */
export const TO_CLIENT = 1;

/**
 * State number that signals shutdown, 2^64-1 (mosh: uint64_t(-1)); written
 * out, not imported from the protobuf codec, so that importing these numbers
 * loads no npm package (docs/architecture.md §12.4).
 */
export const SHUTDOWN_NUM = 0xffffffffffffffffn;

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

/**
 * Heartbeat grid, ms (tmosh only): a heartbeat due at least
 * HEARTBEAT_ALIGN_MIN_MS ahead is sent at the last multiple of this on the
 * process's clock before it is due, up to this much early. The sessions of
 * one process (the user's daemon) then beat on the same timer turns: one
 * wake-up serves all whose heartbeats fall in the same grid step. A divisor
 * of ACK_INTERVAL, so an idle session still beats every ACK_INTERVAL.
 */
export const HEARTBEAT_GRID_MS = 1500;

/** Shortest wait that is put on the heartbeat grid, ms (tmosh only): longer than any retransmission or send wait (RTO ≤ 1000 + ACK_DELAY). */
export const HEARTBEAT_ALIGN_MIN_MS = 2000;

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

// ---- Channels (tmosh's chan.v1, docs/wire.md §17; no Mosh equivalent) ----

/** Fragment word of a channel datagram: not final, fragment number 32767 (docs/wire.md §17.1). */
export const CHANNEL_FRAGMENT_WORD = 0x7fff;
/** Longest target, reason, bind address or message in a frame, bytes. */
export const CHANNEL_TARGET_MAX = 1024;
/** Receive window of one channel, bytes (what the peer may send beyond what was consumed). */
export const CHANNEL_WINDOW = 4 * 1024 * 1024;
/** Bytes an application may queue on one channel before its reader pauses. */
export const CHANNEL_SEND_BUFFER = 4 * 1024 * 1024;
/** Most channels open at once on a connection. */
export const CHANNELS_MAX = 256;
/** Receive windows of all channels of a connection together, bytes (each gets a share, at least CHANNEL_WINDOW_MIN). */
export const CHANNELS_RECEIVE_BUDGET = 64 * 1024 * 1024;
/** Smallest receive window of a channel, bytes. */
export const CHANNEL_WINDOW_MIN = 128 * 1024;
/** Most -R listeners a client may ask for in one session. */
export const LISTENS_MAX = 64;
/** A receiver acknowledges after this many ack-eliciting packets... */
export const CHANNEL_ACK_EVERY = 4;
/** ...or after this many bytes of them (large datagrams are acknowledged sooner)... */
export const CHANNEL_ACK_BYTES = 96 * 1024;
/** ...or this long after the first unacknowledged one, ms. */
export const CHANNEL_ACK_DELAY = 5;
/** Packet ranges an ack frame holds at most. */
export const CHANNEL_ACK_RANGES_MAX = 32;
/** A packet this many numbers below an acknowledged one is lost (RFC 9002's kPacketThreshold). */
export const CHANNEL_LOSS_PACKETS = 3;
/** Smallest probe timeout, ms. */
export const CHANNEL_PTO_MIN = 25;
/** Largest probe timeout after back-off, ms (so data resumes soon after an outage). */
export const CHANNEL_PTO_MAX = 1000;
/** Congestion window at start and after persistent loss, bytes. */
export const CWND_INITIAL = 32 * 1024;
/** Smallest congestion window, bytes. */
export const CWND_MIN = 8 * 1024;
/** Connection-wide cap on bytes in flight, bytes. */
export const CWND_MAX = 16 * 1024 * 1024;
/** Loss fraction of one round trip above which the window halves. */
export const LOSS_BACKOFF_RATE = 0.1;
/** Queueing delay (smoothed RTT above the minimum) that shrinks the window, fraction of the minimum RTT... */
export const DELAY_BACKOFF_FRACTION = 0.5;
/** ...plus this many ms. */
export const DELAY_BACKOFF_MS = 20;
/** Channel datagrams sent per turn of the event loop before yielding to terminal traffic. */
export const CHANNEL_BURST = 64;
/** Largest channel datagram a tmosh peer reads, bytes of UDP payload (UDP's largest, over IPv6; docs/wire.md §17.8). */
export const CHANNEL_RECEIVE_MAX = 65527;
/** Datagram payloads from this size are sealed into a reused send buffer, bytes (tmosh only; smaller ones get a fresh array). */
export const SPARE_MIN_BYTES = 8 * 1024;
/** Send buffers (CHANNEL_RECEIVE_MAX bytes each) a connection keeps for reuse. */
export const SPARES_MAX = 8;
/** Largest channel datagram towards a peer on this host, bytes (loopback's MTU is 64 KiB; a fifth of CHANNEL_LOCAL_WINDOW keeps several in flight). */
export const CHANNEL_LOCAL_DATAGRAM_MAX = 32 * 1024;
/** Most bytes in flight towards a peer on this host, bytes (its socket receive buffer, 208 KiB by default on Linux, is the only queue). */
export const CHANNEL_LOCAL_WINDOW = 160 * 1024;
/**
 * Kernel receive buffer a connection asks for once bulk data may arrive
 * faster than it is read (channels run; a client's native-scrollback log
 * while a frame is written), bytes (Linux doubles it, capped by
 * net.core.rmem_max).
 */
export const BULK_SOCKET_BUFFER = 4 * 1024 * 1024;
/** Most bytes in flight towards a peer on this host whose receive buffer grew, bytes (half the buffer, at most this: 5 ms of queue at 200 MB/s). */
export const CHANNEL_LOCAL_WINDOW_MAX = 1024 * 1024;
/** Largest UDP payload over IPv4, bytes (65535 - 20 - 8): the datagram ceiling towards a peer on this host with a grown buffer. */
export const UDP_IPV4_PAYLOAD_MAX = 65507;
/** IP MTU assumed for a path to another host (Ethernet's), bytes: the channel size ceiling is this minus the IP and UDP headers. */
export const CHANNEL_PATH_MTU = 1500;
/** Smallest step of the channel size search, bytes (steps double from here up to the ceiling). */
export const CHANNEL_PROBE_STEP_MIN = 2048;
/** Probes of one size lost in a row before the search stops (RFC 8899's MAX_PROBES). */
export const CHANNEL_PROBE_TRIES = 3;
/** A finished size search starts again after this long, ms (RFC 8899's PMTU_RAISE_TIMER is 600 s). */
export const CHANNEL_PROBE_RAISE_MS = 60_000;
/** Large channel packets lost with no later large one acknowledged before the size falls back to the base (a black hole). */
export const CHANNEL_BLACK_HOLE_LOSSES = 3;

/** First 4 bytes of a relay envelope's OCB nonce, "tmrl" (tmosh only; Mosh datagrams use 4 zero bytes; docs/wire.md §16.1). */
export const ENVELOPE_NONCE_PREFIX = 0x746d726c;

/** Envelope direction bit towards the relay, from the client (tmosh only; docs/wire.md §16.1). */
export const ENVELOPE_TO_RELAY = 0;

/** Envelope direction bit from the relay, to the client (tmosh only; docs/wire.md §16.1). */
export const ENVELOPE_FROM_RELAY = 1;

/** Envelope kind: the body is one inner datagram, forwarded unchanged (docs/wire.md §16.1). */
export const ENVELOPE_DATA = 0;

/** Envelope kind: the client is leaving, the relay ends; empty body (docs/wire.md §16.1). */
export const ENVELOPE_BYE = 1;

/** Bytes an envelope adds to the inner datagram: nonce tail 8 + kind 1 + tag 16. */
export const ENVELOPE_OVERHEAD = 8 + 1 + 16;

/** Largest envelope or inner datagram a relay reads, bytes (a 2048-byte datagram in a few nested envelopes). */
export const RELAY_RECEIVE_MAX = 4096;

/** Sequence numbers a relay remembers below its newest, to drop replays yet keep reordered envelopes (docs/wire.md §16.3). */
export const ENVELOPE_REPLAY_WINDOW = 64;

/** Copies of the bye envelope a client sends when it closes (UDP may lose some). */
export const ENVELOPE_BYE_COPIES = 3;

/**
 * Most payloads a connection keeps that arrived before its consumer was
 * registered (tmosh only): a user daemon's first session loads its code after
 * MOSH CONNECT, and the client's first state often comes first; dropped, it
 * cost the client a retransmission timeout (1 s) before its first screen.
 */
export const EARLY_PAYLOADS_MAX = 64;
