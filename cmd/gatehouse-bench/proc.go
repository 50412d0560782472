package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// lab owns the temporary directory and every process the run starts, and
// removes them all on close.
type lab struct {
	dir   string
	self  string // this executable, re-executed for the upstream and the bare proxy
	procs []*proc
}

func newLab() (*lab, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("cannot find my own executable: %w", err)
	}
	dir, err := os.MkdirTemp("", "gatehouse-bench-")
	if err != nil {
		return nil, err
	}
	return &lab{dir: dir, self: self}, nil
}

// close stops the processes, last started first (Gatehouse and the proxies
// before the upstream), and removes the directory.
func (l *lab) close() {
	for i := len(l.procs) - 1; i >= 0; i-- {
		l.procs[i].stop()
	}
	os.RemoveAll(l.dir)
}

// proc is a server process started by the run.
type proc struct {
	name     string
	addr     string // host:port it listens on
	cmd      *exec.Cmd
	logPath  string
	children bool // count the CPU of its children too (nginx workers)

	done    chan struct{} // closed when the process has exited
	waitErr error
}

// start starts cmd with its output in a log file of the lab. The process
// gets its own process group, so that a Ctrl-C on the terminal reaches only
// this tool, which then stops the servers in order; and a parent-death
// signal, so that it does not outlive the tool even if the tool is killed.
func (l *lab) start(name, addr string, cmd *exec.Cmd) (*proc, error) {
	p := &proc{name: name, addr: addr, cmd: cmd, logPath: filepath.Join(l.dir, name+".log"), done: make(chan struct{})}
	log, err := os.Create(p.logPath)
	if err != nil {
		return nil, err
	}
	defer log.Close() // the child has its own copy
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	l.procs = append(l.procs, p)
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process group to terminate, then kills it after a grace
// period. The group is the one start created, holding only this process and
// its children (nginx workers).
func (p *proc) stop() {
	if p.exited() {
		return
	}
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
}

// logTail returns the last lines the process wrote, to explain a failure.
func (p *proc) logTail(n int) string {
	b, _ := os.ReadFile(p.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// deadErr describes a process that exited when it should be serving.
func (p *proc) deadErr() error {
	return fmt.Errorf("%s exited (%v); its last output:\n%s", p.name, p.waitErr, p.logTail(20))
}

// waitReady calls check until it succeeds, the process exits or timeout
// passes.
func (p *proc) waitReady(ctx context.Context, timeout time.Duration, check func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		cctx, ccancel := context.WithTimeout(ctx, time.Second)
		err := check(cctx)
		ccancel()
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return p.deadErr()
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s not ready after %v: %v; its last output:\n%s", p.name, timeout, err, p.logTail(20))
			}
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// cpu returns the user and system CPU time the process (and, for nginx, its
// children) used so far.
func (p *proc) cpu() (time.Duration, error) {
	if p.exited() {
		return 0, p.deadErr()
	}
	pid := p.cmd.Process.Pid
	st, err := readStat(pid)
	if err != nil {
		return 0, err
	}
	total := st.cpu
	if p.children {
		kids, err := childrenOf(pid)
		if err != nil {
			return 0, err
		}
		for _, k := range kids {
			if ks, err := readStat(k); err == nil { // a child may just have exited
				total += ks.cpu
			}
		}
	}
	return total, nil
}

// clockTick is the unit of utime and stime in /proc/PID/stat: USER_HZ, which
// the kernel fixes at 100 for user space on every architecture Go supports
// on Linux.
const clockTick = 10 * time.Millisecond

type procStat struct {
	ppid int
	cpu  time.Duration // utime + stime
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// parseStat reads proc(5) /proc/PID/stat. The command name (field 2) is in
// parentheses and may hold spaces or parentheses, so fields are counted from
// the last ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return procStat{}, errors.New("short /proc stat")
	}
	ppid, err1 := strconv.Atoi(f[1])
	ut, err2 := strconv.ParseInt(f[11], 10, 64)
	st, err3 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return procStat{}, fmt.Errorf("malformed /proc stat: %w", err)
	}
	return procStat{ppid: ppid, cpu: time.Duration(ut+st) * clockTick}, nil
}

// childrenOf lists the processes whose parent is pid.
func childrenOf(pid int) ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		k, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := readStat(k); err == nil && st.ppid == pid {
			out = append(out, k)
		}
	}
	return out, nil
}

// freeAddr returns a loopback address with a port free right now. Another
// process could take it before the server binds it; on this machine, during
// a benchmark, that is unlikely enough.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// machineCPU returns the CPU time the whole machine spent so far running
// user and kernel code (user, nice and system of the "cpu" line of
// /proc/stat), over all cores. Unlike the process table, it also counts
// work in other PID namespaces, such as other containers on the same VM.
func machineCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 4 || f[0] != "cpu" {
		return 0, errors.New("malformed /proc/stat")
	}
	var ticks int64
	for _, v := range f[1:4] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("malformed /proc/stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// selfCPU returns the CPU time this process used so far.
func selfCPU() (time.Duration, error) {
	st, err := readStat(os.Getpid())
	return st.cpu, err
}

// idleLoad measures, for d, how many cores the machine keeps busy while the
// run sends no load: work that will compete with the measurement.
func idleLoad(ctx context.Context, d time.Duration) (float64, error) {
	c0, err := machineCPU()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(d):
	}
	c1, err := machineCPU()
	if err != nil {
		return 0, err
	}
	return (c1 - c0).Seconds() / time.Since(start).Seconds(), nil
}
