package ui_test

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
)

// findButton returns the first visible button labelled text under o.
func findButton(t *testing.T, o fyne.CanvasObject, text string) *widget.Button {
	t.Helper()
	bs := buttons(o, func(b *widget.Button) bool { return b.Text == text })
	if len(bs) == 0 {
		t.Fatalf("no button %q", text)
	}
	return bs[0]
}

// hasButton reports whether a visible button labelled text is under o.
func hasButton(o fyne.CanvasObject, text string) bool {
	return len(buttons(o, func(b *widget.Button) bool { return b.Text == text })) > 0
}

// callButtons returns the visible icon-only voice and video call buttons
// under o.
func callButtons(o fyne.CanvasObject) []*widget.Button {
	return buttons(o, func(b *widget.Button) bool {
		return b.Text == "" && b.Icon != nil && (strings.Contains(b.Icon.Name(), "phone") || strings.Contains(b.Icon.Name(), "videocam"))
	})
}

// buttons returns the visible buttons under o for which match is true, in
// tree order.
func buttons(o fyne.CanvasObject, match func(*widget.Button) bool) []*widget.Button {
	var found []*widget.Button
	walkVisible(o, func(o fyne.CanvasObject) bool {
		b, ok := o.(*widget.Button)
		if ok && match(b) {
			found = append(found, b)
		}
		return ok
	})
	return found
}

// hasLabel reports whether a visible label under o starts with text.
func hasLabel(o fyne.CanvasObject, text string) bool {
	found := false
	walkVisible(o, func(o fyne.CanvasObject) bool {
		l, ok := o.(*widget.Label)
		found = found || ok && strings.HasPrefix(l.Text, text)
		return ok
	})
	return found
}

// walkVisible calls leaf for every visible object under o, in tree order,
// and goes into containers and widgets' renderers, except where leaf
// reports that it took the object as a leaf.
func walkVisible(o fyne.CanvasObject, leaf func(fyne.CanvasObject) bool) {
	if o == nil || !o.Visible() || leaf(o) {
		return
	}
	switch v := o.(type) {
	case *fyne.Container:
		for _, c := range v.Objects {
			walkVisible(c, leaf)
		}
	case fyne.Widget:
		for _, c := range cacheRenderer(v).Objects() {
			walkVisible(c, leaf)
		}
	}
}

func cacheRenderer(w fyne.Widget) fyne.WidgetRenderer { return test.WidgetRenderer(w) }
