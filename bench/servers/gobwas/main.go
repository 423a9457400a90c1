// Command gobwas is the gobwas/ws echo server of the comparison: a
// goroutine per connection on a plain listener, the zero-copy upgrade, and
// the package's low-level frame functions reading straight from the
// connection, so that an idle connection holds no buffer. Each frame is
// unmasked and written back with its header in one write. With -compress,
// messages go through wsutil's reader and writer and wsflate.
package main

import (
	"compress/flate"
	"io"
	"net"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/gobwas/ws/wsutil"

	"github.com/wsx-go/wsx/bench/internal/srv"
)

const maxPayload = 64 << 20

func main() {
	ln := srv.Listen()
	for {
		nc, err := ln.Accept()
		if err != nil {
			srv.Fatal(err)
		}
		if srv.Compress() {
			go serveDeflate(nc)
		} else {
			go serve(nc)
		}
	}
}

// headerWriter copies a header that ws.WriteHeaderBuffer writes into the
// room left before a frame's payload.
type headerWriter struct{ dst []byte }

func (w *headerWriter) Write(p []byte) (int, error) { return copy(w.dst, p), nil }

func serve(nc net.Conn) {
	defer nc.Close()
	if _, err := ws.Upgrade(nc); err != nil {
		return
	}
	hbuf := make([]byte, ws.MaxHeaderSize)
	wbuf := make([]byte, ws.MaxHeaderSize)
	hw := &headerWriter{}
	// buf holds a frame: room for the header, then the payload.
	var buf []byte
	for {
		h, err := ws.ReadHeaderBuffer(nc, hbuf[:ws.MaxHeaderSize-2])
		if err != nil || h.Length > maxPayload {
			return
		}
		n := int(h.Length)
		if cap(buf) < ws.MaxHeaderSize+n {
			buf = make([]byte, ws.MaxHeaderSize+n)
		}
		payload := buf[ws.MaxHeaderSize : ws.MaxHeaderSize+n]
		if _, err := io.ReadFull(nc, payload); err != nil {
			return
		}
		if h.Masked {
			ws.Cipher(payload, h.Mask, 0)
			h.Masked = false
		}
		switch h.OpCode {
		case ws.OpPong:
			continue
		case ws.OpPing:
			h.OpCode = ws.OpPong
		}
		hs := ws.HeaderSize(h)
		hw.dst = buf[ws.MaxHeaderSize-hs : ws.MaxHeaderSize]
		if err := ws.WriteHeaderBuffer(hw, h, wbuf); err != nil {
			return
		}
		if _, err := nc.Write(buf[ws.MaxHeaderSize-hs : ws.MaxHeaderSize+n]); err != nil {
			return
		}
		if h.OpCode == ws.OpClose {
			return
		}
	}
}

func serveDeflate(nc net.Conn) {
	defer nc.Close()
	ext := wsflate.Extension{Parameters: wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}}
	if _, err := (ws.Upgrader{Negotiate: ext.Negotiate}).Upgrade(nc); err != nil {
		return
	}
	var msg wsflate.MessageState
	fr := wsflate.NewReader(nil, func(r io.Reader) wsflate.Decompressor { return flate.NewReader(r) })
	fw := wsflate.NewWriter(nil, func(w io.Writer) wsflate.Compressor {
		f, _ := flate.NewWriter(w, flate.BestSpeed)
		return f
	})
	control := wsutil.ControlFrameHandler(nc, ws.StateServerSide)
	rd := &wsutil.Reader{
		Source:         nc,
		State:          ws.StateServerSide | ws.StateExtended,
		Extensions:     []wsutil.RecvExtension{&msg},
		OnIntermediate: control,
		MaxFrameSize:   maxPayload,
	}
	wr := wsutil.NewWriter(nc, ws.StateServerSide|ws.StateExtended, 0)
	wr.SetExtensions(&msg)
	for {
		h, err := rd.NextFrame()
		if err != nil {
			return
		}
		if h.OpCode.IsControl() {
			if err := control(h, rd); err != nil {
				return
			}
			continue
		}
		wr.ResetOp(h.OpCode)
		if msg.IsCompressed() {
			fr.Reset(rd)
			fw.Reset(wr)
			if _, err := io.Copy(fw, fr); err != nil {
				return
			}
			if err := fw.Close(); err != nil {
				return
			}
		} else if _, err := io.Copy(wr, rd); err != nil {
			return
		}
		if err := wr.Flush(); err != nil {
			return
		}
	}
}
