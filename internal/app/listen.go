package app

import (
	"net"
	"sync"
)

// maxConns bounds the connections a listener holds at once, so a flood of
// idle or slow connections cannot exhaust memory and file descriptors.
const maxConns = 16384

// limitListener accepts at most n connections at a time; Accept waits for
// a slot. (golang.org/x/net/netutil does the same; this is the whole of it.)
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func limitConns(l net.Listener, n int) net.Listener {
	return &limitListener{Listener: l, sem: make(chan struct{}, n)}
}

func (l *limitListener) Accept() (net.Conn, error) {
	l.sem <- struct{}{}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.sem
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
