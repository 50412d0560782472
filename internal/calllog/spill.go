package calllog

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/gatehouse/gatehouse"
)

// A spill segment is a file of frames, each one call:
//
//	uint32 length of the payload, big-endian
//	uint32 CRC-32C (Castagnoli) of the payload, big-endian
//	payload: the call as JSON
//
// Segments are named seg-NNNNNNNNNNNNNNNNNNNN.spill with an increasing
// sequence number, written append-only, fsynced when they are rolled
// (closed), and replayed oldest first. A crash can leave a torn last frame;
// the reader stops there and the record is counted lost.

const (
	segPrefix = "seg-"
	segSuffix = ".spill"
	// maxFrame bounds a payload: a call is a few hundred bytes (user agent
	// and path are capped), so anything larger is corruption.
	maxFrame = 64 << 10
	// segmentBytes and segmentCalls bound one segment, so that replaying it
	// is one transaction of moderate size.
	segmentBytes = 4 << 20
	segmentCalls = 8192
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt is returned by readSegment at a frame that does not check.
var errCorrupt = errors.New("corrupt spill frame")

// appendFrame appends c's frame to b.
func appendFrame(b []byte, c *gatehouse.Call) ([]byte, error) {
	payload, err := json.Marshal(c)
	if err != nil {
		return b, err
	}
	var h [8]byte
	binary.BigEndian.PutUint32(h[:4], uint32(len(payload)))
	binary.BigEndian.PutUint32(h[4:], crc32.Checksum(payload, crcTable))
	return append(append(b, h[:]...), payload...), nil
}

// readSegment calls fn with each call of the segment in r, in order. It
// stops at the end (nil) or at the first frame that is torn, too large,
// fails its checksum or does not decode (errCorrupt, after the calls
// before it).
func readSegment(r io.Reader, fn func(c gatehouse.Call)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var h [8]byte
	buf := make([]byte, 0, 1024)
	for {
		if _, err := io.ReadFull(br, h[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("%w: torn header", errCorrupt)
		}
		n := binary.BigEndian.Uint32(h[:4])
		if n == 0 || n > maxFrame {
			return fmt.Errorf("%w: length %d", errCorrupt, n)
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		buf = buf[:n]
		if _, err := io.ReadFull(br, buf); err != nil {
			return fmt.Errorf("%w: torn payload", errCorrupt)
		}
		if crc32.Checksum(buf, crcTable) != binary.BigEndian.Uint32(h[4:]) {
			return fmt.Errorf("%w: checksum", errCorrupt)
		}
		var c gatehouse.Call
		if err := json.Unmarshal(buf, &c); err != nil || c.Time.IsZero() {
			return fmt.Errorf("%w: payload", errCorrupt)
		}
		fn(c)
	}
}

// spiller owns the spill directory: the active segment being appended and
// the closed ones waiting to be replayed. Safe for concurrent use.
type spiller struct {
	dir      string
	maxBytes int64 // all segments together

	mu     sync.Mutex
	f      *os.File      // active segment, nil when none
	w      *bufio.Writer // over f
	seq    uint64        // sequence number of the next segment
	calls  int           // in the active segment
	size   int64         // of the active segment
	total  int64         // bytes of every segment on disk
	frame  []byte        // scratch
	closed bool
}

// openSpiller takes over dir, creating it (0700); segments left by an
// earlier run stay to be replayed.
func openSpiller(dir string, maxBytes int64) (*spiller, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spill directory: %w", err)
	}
	s := &spiller{dir: dir, maxBytes: maxBytes}
	segs, err := s.list()
	if err != nil {
		return nil, err
	}
	for _, seg := range segs {
		if fi, err := os.Stat(seg.path); err == nil {
			s.total += fi.Size()
		}
		s.seq = max(s.seq, seg.seq+1)
	}
	return s, nil
}

type segment struct {
	seq  uint64
	path string
}

// list returns the segments on disk, oldest first.
func (s *spiller) list() ([]segment, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("spill directory: %w", err)
	}
	var segs []segment
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix), 10, 64)
		if err != nil {
			continue
		}
		segs = append(segs, segment{n, filepath.Join(s.dir, name)})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].seq < segs[j].seq })
	return segs, nil
}

// append writes cs to the active segment, starting one if needed and
// rolling it when full. It returns how many were written; the rest are
// lost (the directory is over its size limit or the disk failed).
func (s *spiller) append(cs []gatehouse.Call) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errors.New("spill closed")
	}
	for i := range cs {
		frame, err := appendFrame(s.frame[:0], &cs[i])
		s.frame = frame
		if err != nil {
			return i, err
		}
		if s.total+int64(len(frame)) > s.maxBytes {
			return i, fmt.Errorf("spill directory over its limit of %d bytes", s.maxBytes)
		}
		if s.f == nil {
			if err := s.start(); err != nil {
				return i, err
			}
		}
		if _, err := s.w.Write(frame); err != nil {
			return i, fmt.Errorf("spill: %w", err)
		}
		s.calls++
		s.size += int64(len(frame))
		s.total += int64(len(frame))
		if s.calls >= segmentCalls || s.size >= segmentBytes {
			if err := s.rollLocked(); err != nil {
				return i + 1, err
			}
		}
	}
	return len(cs), nil
}

func (s *spiller) start() error {
	path := filepath.Join(s.dir, fmt.Sprintf("%s%020d%s", segPrefix, s.seq, segSuffix))
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("spill: %w", err)
	}
	s.seq++
	s.f, s.w, s.calls, s.size = f, bufio.NewWriterSize(f, 64<<10), 0, 0
	return nil
}

// roll closes the active segment (flushed and fsynced), if any, so that it
// can be replayed.
func (s *spiller) roll() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rollLocked()
}

func (s *spiller) rollLocked() error {
	if s.f == nil {
		return nil
	}
	f := s.f
	s.f = nil
	err := s.w.Flush()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(s.dir)
	}
	if err != nil {
		return fmt.Errorf("spill: roll segment: %w", err)
	}
	return nil
}

// pending reports whether there is anything to replay, including an
// active segment not rolled yet.
func (s *spiller) pending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total > 0 || s.f != nil
}

// closedSegments returns the segments that are not being written, oldest
// first.
func (s *spiller) closedSegments() ([]segment, error) {
	s.mu.Lock()
	active := s.f != nil
	next := s.seq
	s.mu.Unlock()
	segs, err := s.list()
	if err != nil {
		return nil, err
	}
	if active {
		// The active segment is the newest one, seq next-1.
		for i, seg := range segs {
			if seg.seq == next-1 {
				segs = segs[:i]
				break
			}
		}
	}
	return segs, nil
}

// remove deletes a replayed segment.
func (s *spiller) remove(seg segment) error {
	fi, err := os.Stat(seg.path)
	if err != nil {
		return err
	}
	if err := os.Remove(seg.path); err != nil {
		return err
	}
	s.mu.Lock()
	s.total = max(0, s.total-fi.Size())
	s.mu.Unlock()
	return nil
}

func (s *spiller) bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// close rolls the active segment; later appends fail.
func (s *spiller) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return s.rollLocked()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
