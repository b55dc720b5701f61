package ui

import (
	"fmt"
	"math"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
)

// TestGridLayout checks the grid's shapes: columns and rows for 1 to 9
// tiles, cells of one 16:9 size inside the grid without overlapping, the
// whole centred and an incomplete last row centred too.
func TestGridLayout(t *testing.T) {
	test.NewTempApp(t)
	for _, tc := range []struct {
		n, cols, rows int
	}{
		{1, 1, 1}, {2, 2, 1}, {3, 2, 2}, {4, 2, 2}, {5, 3, 2}, {6, 3, 2}, {7, 3, 3}, {8, 3, 3}, {9, 3, 3},
	} {
		for _, size := range []fyne.Size{{Width: 800, Height: 400}, {Width: 400, Height: 800}, {Width: 960, Height: 540}} {
			t.Run(fmt.Sprintf("%d in %vx%v", tc.n, size.Width, size.Height), func(t *testing.T) {
				g := newGrid(defaultConfig())
				var ps []Participant
				for i := 0; i < tc.n; i++ {
					ps = append(ps, Participant{ID: fmt.Sprint(i)})
				}
				g.Update(ps)
				g.Resize(size)
				test.WidgetRenderer(g).Layout(size)
				tiles := g.Tiles()
				cs := tiles[0].Size()
				if r := cs.Width / cs.Height; math.Abs(float64(r-tileAspect)) > 0.01 {
					t.Errorf("cell %v is not 16:9", cs)
				}
				xs, ys := map[float32]int{}, map[float32]int{}
				var minX, maxX, minY, maxY float32 = size.Width, 0, size.Height, 0
				for i, tile := range tiles {
					p, s := tile.Position(), tile.Size()
					if s != cs {
						t.Fatalf("tile %d is %v, tile 0 %v", i, s, cs)
					}
					if p.X < -0.5 || p.Y < -0.5 || p.X+s.Width > size.Width+0.5 || p.Y+s.Height > size.Height+0.5 {
						t.Fatalf("tile %d at %v+%v is outside %v", i, p, s, size)
					}
					for j := 0; j < i; j++ {
						q := tiles[j].Position()
						if p.X < q.X+cs.Width-0.5 && q.X < p.X+cs.Width-0.5 && p.Y < q.Y+cs.Height-0.5 && q.Y < p.Y+cs.Height-0.5 {
							t.Fatalf("tiles %d and %d overlap", i, j)
						}
					}
					xs[p.X]++
					ys[p.Y]++
					minX, maxX = min(minX, p.X), max(maxX, p.X+s.Width)
					minY, maxY = min(minY, p.Y), max(maxY, p.Y+s.Height)
				}
				if len(ys) != tc.rows {
					t.Errorf("%d rows, want %d", len(ys), tc.rows)
				}
				if full := tc.n - (tc.rows-1)*tc.cols; full == tc.cols && len(xs) != tc.cols {
					t.Errorf("%d columns, want %d", len(xs), tc.cols)
				}
				if l, r := minX, size.Width-maxX; math.Abs(float64(l-r)) > 1 {
					t.Errorf("not centred across: %v left, %v right", l, r)
				}
				if top, bottom := minY, size.Height-maxY; math.Abs(float64(top-bottom)) > 1 {
					t.Errorf("not centred down: %v above, %v below", top, bottom)
				}
				last := tiles[len(tiles)-1]
				if inRow := tc.n - (tc.rows-1)*tc.cols; inRow < tc.cols {
					first := tiles[(tc.rows-1)*tc.cols]
					l, r := first.Position().X, size.Width-(last.Position().X+cs.Width)
					if math.Abs(float64(l-r)) > 1 {
						t.Errorf("last row of %d not centred: %v left, %v right", inRow, l, r)
					}
				}
			})
		}
	}
}

// BenchmarkGridUpdate is one participants notice of a nine-tile call in
// which only who speaks changed (they come several times a second).
func BenchmarkGridUpdate(b *testing.B) {
	test.NewTempApp(b)
	g := newGrid(defaultConfig())
	g.Resize(fyne.NewSize(960, 540))
	ps := make([]Participant, 9)
	for i := range ps {
		ps[i] = Participant{ID: fmt.Sprint(i), Name: fmt.Sprintf("Participant %d", i)}
	}
	g.Update(ps)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for j := range ps {
			ps[j].Speaking = j == i%9
		}
		g.Update(ps)
	}
}
