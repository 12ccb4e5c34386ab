/**
 * The driver protocol: frames, request encoders, reply decoders and the
 * transport-agnostic {@link DriverConnection} used by the pipe (process) and
 * SSH (xcpng) backends.
 *
 * @module
 */
export {
  DriverConnection,
  type DriverConnectionExecOptions,
  type DriverConnectionInitOptions,
  type DriverConnectionOptions,
  type DriverExecOutcome,
  type DriverTransport,
} from './driver-connection.js'
export {
  buildDriverProgram,
  DRIVER_PROTOCOL_VERSION,
  type DriverExecOptions,
  type DriverExecReply,
  type DriverExecStatus,
  type DriverHello,
  type DriverInitOptions,
  encodeBootstrapPayload,
  encodeExec,
  encodeInit,
  encodeMount,
  encodeQuit,
  encodeReset,
  FrameType,
  parseDone,
  parseHello,
  RUNTIME_GRANTS,
  type RuntimeGrant,
} from './driver-protocol.js'
export {
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  type Frame,
  FrameDecoder,
  type FrameDecoderOptions,
} from './frame-codec.js'
