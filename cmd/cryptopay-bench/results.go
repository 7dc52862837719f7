package main

import (
	"fmt"
	"io"
)

// results keeps every round's figures by target name, in first-seen
// order, and the within-round ratios.
type results struct {
	order  *[]string
	runs   map[string][]*lgResult
	ratios map[string][]float64
}

func (r *results) init() {
	if r.runs == nil {
		r.order, r.runs, r.ratios = new([]string), map[string][]*lgResult{}, map[string][]float64{}
	}
}

func (r *results) add(name string, res *lgResult) {
	r.init()
	if _, ok := r.runs[name]; !ok {
		*r.order = append(*r.order, name)
	}
	r.runs[name] = append(r.runs[name], res)
}

// ratio records num's rate over den's in round (1-based), when both ran.
func (r *results) ratio(name, num, den string, round int) {
	r.init()
	a, b := r.runs[num], r.runs[den]
	if len(a) < round || len(b) < round || a[round-1] == nil || b[round-1] == nil || b[round-1].OpsPerS == 0 {
		return
	}
	if _, ok := r.ratios[name]; !ok {
		*r.order = append(*r.order, name)
	}
	r.ratios[name] = append(r.ratios[name], a[round-1].OpsPerS/b[round-1].OpsPerS)
}

func (r *results) print(w io.Writer, _ []*gateway) {
	r.init()
	fmt.Fprintln(w, "\nmedians over rounds (ops/s, p50 and p99 in ms, 1-minute load average); ratios are taken within each round")
	fmt.Fprintln(w, conditions())
	for _, name := range *r.order {
		if rs, ok := r.ratios[name]; ok {
			fmt.Fprintf(w, "  %-36s ratio median %.3f (rounds %s)\n", name, median(rs), fmtList(rs))
			continue
		}
		var ops, p50, p99, load []float64
		for _, x := range r.runs[name] {
			if x != nil {
				ops, p50, p99, load = append(ops, x.OpsPerS), append(p50, x.P50ms), append(p99, x.P99ms), append(load, x.Load1)
			}
		}
		fmt.Fprintf(w, "  %-36s %9.0f ops/s  p50 %7.3f  p99 %7.3f  load %5.1f  (%d rounds)\n", name, median(ops), median(p50), median(p99), median(load), len(ops))
	}
}
