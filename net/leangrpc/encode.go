package leangrpc

import (
	"encoding/base64"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Header blocks are written as HPACK literals that never enter the dynamic
// table, so an encoding depends on nothing the connection remembers: the
// constant ones are encoded once for the whole process, and no encoder
// state is kept per connection.

// appendHpackInt appends v with an n-bit prefix whose high bits are first.
func appendHpackInt(b []byte, n uint8, first byte, v uint64) []byte {
	limit := uint64(1)<<n - 1
	if v < limit {
		return append(b, first|byte(v))
	}
	b = append(b, first|byte(limit))
	v -= limit
	for v >= 128 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendHpackString(b []byte, s string) []byte {
	b = appendHpackInt(b, 7, 0, uint64(len(s)))
	return append(b, s...)
}

// appendLiteral appends name: value as a literal without indexing.
func appendLiteral(b []byte, name, value string) []byte {
	b = append(b, 0)
	b = appendHpackString(b, name)
	return appendHpackString(b, value)
}

// HPACK static table indexes (RFC 7541 appendix A).
const (
	staticStatus200   = 8
	staticContentType = 31
)

func appendResponseHeaders(b []byte) []byte {
	b = appendHpackInt(b, 7, 0x80, staticStatus200)
	b = appendHpackInt(b, 4, 0, staticContentType) // literal, indexed name
	return appendHpackString(b, "application/grpc")
}

var (
	// respHeaders are the headers of every answer without custom
	// metadata; okTrailers end every successful call without trailer
	// metadata.
	respHeaders = appendResponseHeaders(nil)
	okTrailers  = appendLiteral(nil, "grpc-status", "0")
)

// appendMD appends custom metadata; binary values (keys ending in -bin)
// travel base64-encoded, as grpc-go sends them.
func appendMD(b []byte, md metadata.MD) []byte {
	for k, vs := range md {
		if isReservedHeader(k) {
			continue
		}
		bin := strings.HasSuffix(k, "-bin")
		for _, v := range vs {
			if bin {
				v = base64.RawStdEncoding.EncodeToString([]byte(v))
			}
			b = appendLiteral(b, k, v)
		}
	}
	return b
}

// isReservedHeader tells headers the transport owns from metadata.
func isReservedHeader(k string) bool {
	if k == "" || k[0] == ':' {
		return true
	}
	switch k {
	case "content-type", "user-agent", "grpc-message-type", "grpc-encoding", "grpc-message",
		"grpc-status", "grpc-timeout", "grpc-status-details-bin", "grpc-accept-encoding", "te":
		return true
	}
	return false
}

// trailerBlock encodes the trailers for st (nil: OK); trailersOnly
// prefixes the response headers (an answer with no messages is one HEADERS
// frame).
func trailerBlock(st *status.Status, md metadata.MD, trailersOnly bool) []byte {
	if st == nil && len(md) == 0 {
		if !trailersOnly {
			return okTrailers
		}
		return okTrailersOnly
	}
	var b []byte
	if trailersOnly {
		b = appendResponseHeaders(b)
	}
	if st == nil {
		return appendMD(append(b, okTrailers...), md)
	}
	b = appendLiteral(b, "grpc-status", strconv.Itoa(int(st.Code())))
	if msg := st.Message(); msg != "" {
		b = appendLiteral(b, "grpc-message", percentEncode(msg))
	}
	if p := st.Proto(); len(p.GetDetails()) > 0 {
		if raw, err := proto.Marshal(p); err == nil {
			b = appendLiteral(b, "grpc-status-details-bin", base64.RawStdEncoding.EncodeToString(raw))
		}
	}
	return appendMD(b, md)
}

var okTrailersOnly = append(appendResponseHeaders(nil), okTrailers...)

// percentEncode encodes grpc-message as the gRPC spec asks: bytes outside
// printable ASCII, and '%', as %XX.
func percentEncode(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '%' {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	const hex = "0123456789ABCDEF"
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c > '~' || c == '%' {
			sb.WriteByte('%')
			sb.WriteByte(hex[c>>4])
			sb.WriteByte(hex[c&15])
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

// parseTimeout reads a grpc-timeout value: at most 8 digits and a unit.
func parseTimeout(v string) (time.Duration, bool) {
	if len(v) < 2 || len(v) > 9 {
		return 0, false
	}
	n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'H':
		unit = time.Hour
	case 'M':
		unit = time.Minute
	case 'S':
		unit = time.Second
	case 'm':
		unit = time.Millisecond
	case 'u':
		unit = time.Microsecond
	case 'n':
		unit = time.Nanosecond
	default:
		return 0, false
	}
	return time.Duration(n) * unit, true
}

// decodeBinary decodes a -bin metadata value, which peers send with or
// without base64 padding.
func decodeBinary(v string) (string, error) {
	if len(v)%4 == 0 {
		b, err := base64.StdEncoding.DecodeString(v)
		return string(b), err
	}
	b, err := base64.RawStdEncoding.DecodeString(v)
	return string(b), err
}

// Frame encoding: the writer appends frames to its buffer itself, which
// costs less than a Framer writing each frame through an io.Writer.

const frameHeaderLen = 9

func appendFrameHeader(b []byte, length int, typ http2.FrameType, flags http2.Flags, id uint32) []byte {
	return append(b, byte(length>>16), byte(length>>8), byte(length), byte(typ), byte(flags),
		byte(id>>24)&0x7f, byte(id>>16), byte(id>>8), byte(id))
}

func appendUint32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// Buffers for messages, pooled: a request's bytes are released once
// decoded, a response's once copied into the connection's write buffer.

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

// maxPooledBuf keeps one large message from pinning its buffer forever.
const maxPooledBuf = 64 << 10

func putBuf(b *[]byte) {
	if b == nil || cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// marshalMessage appends m's gRPC message (5-byte prefix, then the proto
// encoding) to a pooled buffer,
// encoded by custom when set, else by protobuf-go.
func marshalMessage(m any, custom func([]byte, proto.Message) ([]byte, error)) (*[]byte, error) {
	pm, ok := m.(proto.Message)
	if !ok {
		return nil, status.Errorf(codes.Internal, "grpc: message %T is not a proto message", m)
	}
	bp := getBuf()
	b := append((*bp)[:0], 0, 0, 0, 0, 0)
	var err error
	if custom != nil {
		b, err = custom(b, pm)
	} else {
		b, err = proto.MarshalOptions{}.MarshalAppend(b, pm)
	}
	if err != nil {
		putBuf(bp)
		return nil, status.Errorf(codes.Internal, "grpc: error while marshaling: %v", err)
	}
	n := len(b) - 5
	b[1], b[2], b[3], b[4] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	*bp = b
	return bp, nil
}

func unmarshalMessage(b []byte, m any, custom func([]byte, proto.Message) error) error {
	pm, ok := m.(proto.Message)
	if !ok {
		return status.Errorf(codes.Internal, "grpc: message %T is not a proto message", m)
	}
	unmarshal := proto.Unmarshal
	if custom != nil {
		unmarshal = custom
	}
	if err := unmarshal(b, pm); err != nil {
		return status.Errorf(codes.Internal, "grpc: error unmarshalling request: %v", err)
	}
	return nil
}
