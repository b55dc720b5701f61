package ui

import (
	"image"
	"image/color"
	"strings"
	"unicode"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/widget"
)

// avatarColors are the backgrounds of initials avatars; a user always gets
// the same one.
var avatarColors = []color.NRGBA{
	{0x0d, 0xbd, 0x8b, 0xff}, {0x36, 0x8b, 0xd6, 0xff}, {0xac, 0x3b, 0xa8, 0xff}, {0xc2, 0x7c, 0x0e, 0xff},
	{0xe6, 0x4f, 0x7a, 0xff}, {0xff, 0x81, 0x2d, 0xff}, {0x2d, 0xc2, 0xc5, 0xff}, {0x5c, 0x56, 0xf5, 0xff},
}

// Initials returns up to two upper-case letters for name, falling back to
// the localpart of a user ID such as @alice:example.org.
func Initials(name string) string {
	name = strings.TrimSpace(name)
	name = strings.TrimLeft(name, "@#!+")
	if i := strings.IndexByte(name, ':'); i > 0 {
		name = name[:i]
	}
	var out []rune
	for _, w := range strings.FieldsFunc(name, func(r rune) bool {
		return unicode.IsSpace(r) || r == '.' || r == '_' || r == '-'
	}) {
		for _, r := range w {
			if unicode.IsLetter(r) || unicode.IsDigit(r) {
				out = append(out, unicode.ToUpper(r))
				break
			}
		}
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		return "?"
	}
	return string(out)
}

// avatarColor picks a colour from the sum of id's code points, as Element
// does, so neighbours in a list rarely share a colour.
func avatarColor(id string) color.NRGBA {
	sum := 0
	for _, r := range id {
		sum += int(r)
	}
	return avatarColors[sum%len(avatarColors)]
}

// Avatar is a round picture: the user's image, or their initials on a
// colour derived from their ID.
type Avatar struct {
	widget.BaseWidget
	size   float32
	circle *canvas.Circle
	text   *canvas.Text
	img    *canvas.Image
}

// NewAvatar returns an avatar of the given diameter. id picks the colour,
// name the initials; img, when not nil, is shown instead.
func NewAvatar(id, name string, img image.Image, size float32) *Avatar {
	a := &Avatar{size: size}
	a.circle = canvas.NewCircle(avatarColor(id))
	a.text = canvas.NewText(Initials(name), color.White)
	a.text.TextStyle = fyne.TextStyle{Bold: true}
	a.text.TextSize = size * 0.4
	a.text.Alignment = fyne.TextAlignCenter
	if img != nil {
		a.img = canvas.NewImageFromImage(img)
		a.img.FillMode = canvas.ImageFillContain
		a.img.CornerRadius = size / 2
	}
	a.ExtendBaseWidget(a)
	return a
}

// set changes whose avatar it is (a participant's name may arrive late).
func (a *Avatar) set(id, name string) {
	a.circle.FillColor = avatarColor(id)
	a.text.Text = Initials(name)
	a.circle.Refresh()
	a.text.Refresh()
}

// CreateRenderer implements fyne.Widget.
func (a *Avatar) CreateRenderer() fyne.WidgetRenderer {
	objs := []fyne.CanvasObject{a.circle, a.text}
	if a.img != nil {
		objs = []fyne.CanvasObject{a.img}
	}
	return &avatarRenderer{a: a, objs: objs}
}

type avatarRenderer struct {
	a    *Avatar
	objs []fyne.CanvasObject
}

func (r *avatarRenderer) Layout(s fyne.Size) {
	d := fyne.Min(s.Width, s.Height)
	pos := fyne.NewPos((s.Width-d)/2, (s.Height-d)/2)
	for _, o := range r.objs {
		o.Move(pos)
		o.Resize(fyne.NewSquareSize(d))
	}
	if r.a.img != nil {
		r.a.img.CornerRadius = d / 2
	}
	if r.a.text != nil {
		// Initials scale with the circle (a tile's avatar grows and
		// shrinks with the grid).
		if ts := d * 0.4; ts != r.a.text.TextSize {
			r.a.text.TextSize = ts
			r.a.text.Refresh()
		}
		ts := r.a.text.MinSize()
		r.a.text.Move(fyne.NewPos(pos.X, pos.Y+(d-ts.Height)/2))
		r.a.text.Resize(fyne.NewSize(d, ts.Height))
	}
}

func (r *avatarRenderer) MinSize() fyne.Size { return fyne.NewSquareSize(r.a.size) }
func (r *avatarRenderer) Refresh() {
	for _, o := range r.objs {
		o.Refresh()
	}
}
func (r *avatarRenderer) Objects() []fyne.CanvasObject { return r.objs }
func (r *avatarRenderer) Destroy()                     {}
