package wsx

import (
	"context"
	"fmt"
	"sync"
)

// PreparedMessage is a message to be sent on many connections, such as a
// broadcast: it is framed, and compressed, once per kind of connection
// instead of once per connection. Conn.WritePrepared sends it.
//
// On a server connection the whole frame is built once and each send is a
// single write of the same bytes. With permessage-deflate, the compressed
// form is built once for each window size and level in use among
// connections that compress each message on its own (no context takeover
// on the server's side, as CompressionNoContextTakeover gives); a
// connection that keeps its compression context compresses the message
// itself, as Write does. Client connections mask every frame with a fresh
// key, so they share only the compressed payload.
//
// A PreparedMessage is safe for concurrent use. The data passed to
// NewPreparedMessage must not be modified afterwards.
type PreparedMessage struct {
	typ  MessageType
	data []byte

	mu       sync.Mutex
	frame    []byte // the whole unmasked frame, uncompressed
	variants []preparedVariant
}

// preparedVariant is the message compressed for one window size and
// level: the compressed payload, and the whole unmasked frame.
type preparedVariant struct {
	bits, level int
	payload     []byte
	frame       []byte
}

// NewPreparedMessage prepares data as a message of type typ.
func NewPreparedMessage(typ MessageType, data []byte) (*PreparedMessage, error) {
	if typ != MessageText && typ != MessageBinary {
		return nil, fmt.Errorf("wsx: prepared message: invalid message type %v", typ)
	}
	return &PreparedMessage{typ: typ, data: data}, nil
}

// Type returns the message's type.
func (pm *PreparedMessage) Type() MessageType { return pm.typ }

// Data returns the message's payload. It must not be modified.
func (pm *PreparedMessage) Data() []byte { return pm.data }

// plainFrame returns the uncompressed unmasked frame, building it once.
func (pm *PreparedMessage) plainFrame() []byte {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if pm.frame == nil {
		pm.frame = appendServerFrame(nil, opcode(pm.typ), 0, pm.data)
	}
	return pm.frame
}

// compressed returns the message compressed without context takeover for
// a window size and level, building it once.
func (pm *PreparedMessage) compressed(bits, level int) *preparedVariant {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	for i := range pm.variants {
		if v := &pm.variants[i]; v.bits == bits && v.level == level {
			return v
		}
	}
	d := deflateState{cfg: deflateConfig{writeBits: bits}, level: level}
	enc := d.encoder()
	payload := d.finish(enc, enc.Write(nil, pm.data))
	pm.variants = append(pm.variants, preparedVariant{
		bits:    bits,
		level:   level,
		payload: payload,
		frame:   appendServerFrame(nil, opcode(pm.typ), bitRsv1, payload),
	})
	return &pm.variants[len(pm.variants)-1]
}

// appendServerFrame appends a whole unmasked final frame.
func appendServerFrame(dst []byte, op opcode, rsv byte, p []byte) []byte {
	h := header{fin: true, rsv: rsv, opcode: op, length: int64(len(p))}
	var hb [maxHeaderSize]byte
	n := putHeader(hb[:], &h)
	dst = append(dst, hb[:n]...)
	return append(dst, p...)
}

// WritePrepared sends a prepared message, as Write would send its data: it
// is compressed when permessage-deflate was agreed and the message reaches
// the compression threshold. It is safe to call from several goroutines
// at once, like Write, and the context has the same meaning.
func (c *Conn) WritePrepared(ctx context.Context, pm *PreparedMessage) error {
	compress := c.deflate != nil && len(pm.data) >= c.deflate.threshold
	if compress && c.deflate.cfg.writeTakeover {
		// The output depends on this connection's history.
		return c.writeMessage(ctx, pm.typ, pm.data, true)
	}
	if err := c.msgLock.lock(ctx); err != nil {
		return fmt.Errorf("wsx: write: %w", err)
	}
	defer c.msgLock.unlock()
	if compress {
		v := pm.compressed(c.deflate.cfg.writeBits, c.deflate.level)
		if c.client {
			return c.writeFrame(ctx, true, opcode(pm.typ), bitRsv1, v.payload)
		}
		return c.writeWholeFrame(ctx, v.frame)
	}
	if c.client {
		return c.writeFrame(ctx, true, opcode(pm.typ), 0, pm.data)
	}
	return c.writeWholeFrame(ctx, pm.plainFrame())
}
