package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startBuildServer builds and starts examples/buildserver on a loopback
// port, with root, cache and jobs; it returns its URL and process.
func startBuildServer(b *testing.B, root, cache string, jobs int) (string, *os.Process) {
	b.Helper()
	bin := filepath.Join(scratchDir(b, "bin-"), "buildserver")
	out, err := exec.Command("go", "build", "-o", bin, "../../examples/buildserver").CombinedOutput()
	require.NoError(b, err, "go build:\n%s", out)
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0", "-root", root, "-cache", cache, "-jobs", strconv.Itoa(jobs), "-queue", "64")
	stderr, err := cmd.StderrPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start())
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if _, rest, ok := strings.Cut(sc.Text(), "listening on "); ok {
			url, _, _ := strings.Cut(rest, " ")
			go func() {
				for sc.Scan() {
				}
			}()
			return url, cmd.Process
		}
	}
	b.Fatal("the server never said where it listens")
	return "", nil
}

// postBuild sends one build request and waits for its final Ref.
func postBuild(url string, req map[string]any) (time.Duration, error) {
	body, _ := json.Marshal(req)
	start := time.Now()
	resp, err := http.Post(url+"/build", "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var m struct {
			Error string `json:"error"`
			Aux   struct{ Ref string }
		}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return 0, err
		}
		if m.Error != "" {
			return 0, fmt.Errorf("build failed: %s", m.Error)
		}
		if m.Aux.Ref != "" {
			return time.Since(start), nil
		}
	}
	return 0, fmt.Errorf("no Ref in the answer (%s)", resp.Status)
}

// peakRSS is a process's peak resident set (VmHWM), in MiB.
func peakRSS(b *testing.B, p *os.Process) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.Pid))
	require.NoError(b, err)
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			require.NoError(b, err)
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmHWM")
	return 0
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1)*p + 0.5)
	return s[i]
}

// BenchmarkBuildServer (issue 14) runs examples/buildserver as its own
// process on the big monorepo (its Dockerfile builds services/payments:
// 600 files, 15.5 MB of a 305 MB tree, FROM scratch, pushed to the
// server's in-process registry) and sends it one cold request, then 50
// requests 8 at a time with the cache warm. It reports the cold latency,
// p50 and p99 of the 50, and the server's peak RSS (VmHWM; the registry
// the server pushes to lives in the same process).
func BenchmarkBuildServer(b *testing.B) {
	src := monorepoData(b, true)
	root := scratchDir(b, "serverroot-")
	linkTree(b, src, filepath.Join(root, "shop"))
	require.NoError(b, os.WriteFile(filepath.Join(root, "shop", "Dockerfile.payments"),
		[]byte("FROM scratch\nCOPY "+paymentsDir+" /app\nENTRYPOINT [\"/app/bin/payments\"]\n"), 0o644))
	req := map[string]any{"context": "shop", "dockerfile": "Dockerfile.payments", "tag": "shop/payments:v1"}
	for range b.N {
		b.StopTimer()
		url, proc := startBuildServer(b, root, scratchDir(b, "servercache-"), 8)
		b.StartTimer()
		cold, err := postBuild(url, req)
		require.NoError(b, err)
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		sem := make(chan struct{}, 8)
		for range 50 {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				d, err := postBuild(url, req)
				if !assert.NoError(b, err, "POST /build") {
					return
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}()
		}
		wg.Wait()
		b.StopTimer()
		require.Len(b, lat, 50, "requests that succeeded")
		b.ReportMetric(float64(cold.Milliseconds()), "cold-ms")
		b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(percentile(lat, 0.99).Microseconds())/1000, "p99-ms")
		b.ReportMetric(peakRSS(b, proc), "peak-RSS-MiB")
		proc.Kill()
		b.StartTimer()
	}
}
