package e2e

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// Fault model of the peer proxy: every member's peer port is reached only
// through its proxy, so every raft message between two members crosses
// exactly one proxy. The proxy learns which member sent a connection from
// the transport's own metadata (the header of a direct stream, or the first
// HTTP/2 header block of a gRPC connection, which carries metastore-from),
// so the test can cut one directed
// link, or a member's every link, and heal them. A cut closes the link's
// connections and refuses new ones at once, as a dropped cable would: the
// transport sees a broken stream and redials, and raft hears nothing.

// fromHeader is the transport's metadata key for the sender's member ID
// (net/transport's mdFrom), in hex.
const fromHeader = "metastore-from"

// link is one direction of a peer connection, by member ID.
type link struct{ from, to uint64 }

// peerNet is the proxies of a cluster and the links cut among them.
type peerNet struct {
	mu      sync.Mutex
	blocked map[link]bool
	conns   map[link]map[*proxyConn]bool
	ls      []net.Listener
	wg      sync.WaitGroup
}

// proxyConn is one proxied connection: the member's side and the peer's.
type proxyConn struct{ in, up net.Conn }

func (pc *proxyConn) close() {
	pc.in.Close()
	pc.up.Close()
}

func newPeerNet(t *testing.T) *peerNet {
	pn := &peerNet{blocked: map[link]bool{}, conns: map[link]map[*proxyConn]bool{}}
	t.Cleanup(pn.close)
	return pn
}

// listen starts a proxy on addr for the member whose ID is to and whose
// peer listener is at target.
func (pn *peerNet) listen(t *testing.T, addr, target string, to uint64) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("peer proxy: %v", err)
	}
	pn.mu.Lock()
	pn.ls = append(pn.ls, ln)
	pn.mu.Unlock()
	pn.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			pn.wg.Go(func() { pn.handle(c, target, to) })
		}
	})
}

// handle proxies one connection: the peer's answers flow back at once
// (gRPC waits for the server's preface); the member's bytes are held until
// its header block names the sender, then flow unless that link is cut.
func (pn *peerNet) handle(in net.Conn, target string, to uint64) {
	up, err := net.Dial("tcp", target)
	if err != nil {
		in.Close()
		return
	}
	pc := &proxyConn{in: in, up: up}
	pn.wg.Go(func() {
		_, _ = io.Copy(in, up)
		pc.close()
	})
	from, held, err := readSender(in)
	if err != nil {
		pc.close()
		return
	}
	l := link{from: from, to: to}
	if !pn.register(l, pc) {
		pc.close()
		return
	}
	defer pn.unregister(l, pc)
	if _, err := up.Write(held); err == nil {
		_, _ = io.Copy(up, in)
	}
	pc.close()
}

func (pn *peerNet) register(l link, pc *proxyConn) bool {
	pn.mu.Lock()
	defer pn.mu.Unlock()
	if pn.blocked[l] || pn.ls == nil {
		return false
	}
	if pn.conns[l] == nil {
		pn.conns[l] = map[*proxyConn]bool{}
	}
	pn.conns[l][pc] = true
	return true
}

func (pn *peerNet) unregister(l link, pc *proxyConn) {
	pn.mu.Lock()
	defer pn.mu.Unlock()
	delete(pn.conns[l], pc)
}

// cut blocks the directed link from -> to and breaks its connections.
func (pn *peerNet) cut(from, to uint64) {
	pn.mu.Lock()
	defer pn.mu.Unlock()
	l := link{from, to}
	pn.blocked[l] = true
	for pc := range pn.conns[l] {
		pc.close()
	}
}

// isolate cuts every link between id and the others, both ways.
func (pn *peerNet) isolate(id uint64, others []uint64) {
	for _, o := range others {
		if o != id {
			pn.cut(id, o)
			pn.cut(o, id)
		}
	}
}

// heal unblocks every link; the transports redial on their own.
func (pn *peerNet) heal() {
	pn.mu.Lock()
	defer pn.mu.Unlock()
	clear(pn.blocked)
}

func (pn *peerNet) close() {
	pn.mu.Lock()
	for _, ln := range pn.ls {
		ln.Close()
	}
	pn.ls = nil
	for _, cs := range pn.conns {
		for pc := range cs {
			pc.close()
		}
	}
	pn.mu.Unlock()
	pn.wg.Wait()
}

// http2Preface is what every HTTP/2 client sends first.
const http2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// HTTP/2 frame types and flags the sender lookup reads.
const (
	frameHeaders      = 0x1
	frameContinuation = 0x9
	flagEndHeaders    = 0x4
	flagPadded        = 0x8
	flagPriority      = 0x20
)

// readSender reads the connection's first bytes up to the end of its first
// header block and returns the sender's member ID from it, with every byte
// read (to be forwarded as is).
func readSender(r io.Reader) (uint64, []byte, error) {
	var held bytes.Buffer
	tee := io.TeeReader(r, &held)
	preface := make([]byte, len(http2Preface))
	if _, err := io.ReadFull(tee, preface[:len(directMagic)]); err != nil {
		return 0, nil, err
	}
	if string(preface[:len(directMagic)]) == directMagic {
		return readDirectSender(tee, &held)
	}
	if _, err := io.ReadFull(tee, preface[len(directMagic):]); err != nil {
		return 0, nil, err
	}
	if string(preface) != http2Preface {
		return 0, nil, errors.New("peer proxy: not an HTTP/2 connection")
	}
	var from string
	dec := hpack.NewDecoder(4096, func(f hpack.HeaderField) {
		if f.Name == fromHeader {
			from = f.Value
		}
	})
	inBlock := false
	for {
		var hdr [9]byte
		if _, err := io.ReadFull(tee, hdr[:]); err != nil {
			return 0, nil, err
		}
		length := int(hdr[0])<<16 | int(hdr[1])<<8 | int(hdr[2])
		typ, flags := hdr[3], hdr[4]
		payload := make([]byte, length)
		if _, err := io.ReadFull(tee, payload); err != nil {
			return 0, nil, err
		}
		switch {
		case typ == frameHeaders:
			frag, err := headerFragment(payload, flags)
			if err != nil {
				return 0, nil, err
			}
			if _, err := dec.Write(frag); err != nil {
				return 0, nil, err
			}
			inBlock = true
		case typ == frameContinuation && inBlock:
			if _, err := dec.Write(payload); err != nil {
				return 0, nil, err
			}
		default:
			continue
		}
		if flags&flagEndHeaders == 0 {
			continue
		}
		id, err := strconv.ParseUint(from, 16, 64)
		if err != nil || id == 0 {
			return 0, nil, fmt.Errorf("peer proxy: no %s in the first header block (%q)", fromHeader, from)
		}
		return id, held.Bytes(), nil
	}
}

// directMagic opens the transport's direct stream (net/transport), whose
// header is three uvarint-length-prefixed fields: token, cluster ID, sender.
const directMagic = "MSRAFT\x00\x01"

// readDirectSender reads a direct stream's header after its magic.
func readDirectSender(r io.Reader, held *bytes.Buffer) (uint64, []byte, error) {
	br := bufio.NewReader(io.LimitReader(r, 3*(binary.MaxVarintLen64+1<<10)))
	var from string
	for range 3 {
		n, err := binary.ReadUvarint(br)
		if err != nil {
			return 0, nil, err
		}
		if n > 1<<10 {
			return 0, nil, errors.New("peer proxy: direct stream header field too long")
		}
		f := make([]byte, n)
		if _, err := io.ReadFull(br, f); err != nil {
			return 0, nil, err
		}
		from = string(f)
	}
	id, err := strconv.ParseUint(from, 16, 64)
	if err != nil || id == 0 {
		return 0, nil, fmt.Errorf("peer proxy: no sender in the direct stream header (%q)", from)
	}
	return id, held.Bytes(), nil
}

// headerFragment strips a HEADERS frame's padding and priority fields.
func headerFragment(p []byte, flags byte) ([]byte, error) {
	pad := 0
	if flags&flagPadded != 0 {
		if len(p) < 1 {
			return nil, errors.New("peer proxy: short padded HEADERS frame")
		}
		pad, p = int(p[0]), p[1:]
	}
	if flags&flagPriority != 0 {
		if len(p) < 5 {
			return nil, errors.New("peer proxy: short HEADERS priority")
		}
		p = p[5:] // stream dependency and weight

	}
	if pad > len(p) {
		return nil, errors.New("peer proxy: HEADERS padding longer than the frame")
	}
	return p[:len(p)-pad], nil
}
