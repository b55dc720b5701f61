package ui

import (
	"context"
	"image"
	"image/color"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// Share picker geometry: thumbnails are asked for at thumbWidth pixels
// and shown in cards of cardSize.
const (
	thumbWidth = 240
	// ThumbnailRefresh is how often the open share picker takes new
	// thumbnails.
	ThumbnailRefresh = time.Second
)

var cardSize = fyne.NewSize(200, 150)

// SharePicker is the content of the "Share your screen" dialog: the
// screens, then the windows, that can be shared, each a card with a live
// thumbnail (taken again every ThumbnailRefresh while the picker is open)
// and its title; Share shares the selected one, Cancel closes. When the
// backend cannot list sources (no X11, say) its message is shown instead.
// Close it when the dialog goes; it then stops taking thumbnails.
type SharePicker struct {
	widget.BaseWidget

	// Share and Cancel are the picker's buttons (the dialog shows them).
	Share, Cancel *widget.Button
	// Message says what is going on: looking for sources, or why none can
	// be shared (the backend's error).
	Message *widget.Label

	media    Media
	cfg      *config
	onShare  func(ScreenSource)
	onCancel func()

	cards    []*shareCard
	selected *shareCard
	lists    *fyne.Container
	content  fyne.CanvasObject

	mu     sync.Mutex // guards stop
	stop   chan struct{}
	closed bool
	// refreshes counts thumbnail rounds taken (tests read it).
	refreshes int
}

// newSharePicker builds the picker and starts listing the sources (on the
// runner); onShare gets the chosen source, onCancel is called by Cancel.
func newSharePicker(media Media, cfg *config, onShare func(ScreenSource), onCancel func()) *SharePicker {
	p := &SharePicker{media: media, cfg: cfg, onShare: onShare, onCancel: onCancel}
	p.Message = widget.NewLabel("Looking for screens and windows…")
	p.Message.Wrapping = fyne.TextWrapWord
	p.Share = widget.NewButtonWithIcon("Share", theme.ComputerIcon(), func() {
		if p.selected != nil && p.onShare != nil {
			p.onShare(p.selected.src)
		}
	})
	p.Share.Importance = widget.HighImportance
	p.Share.Disable()
	p.Cancel = widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), func() {
		if p.onCancel != nil {
			p.onCancel()
		}
	})
	p.lists = container.NewVBox()
	p.content = container.NewBorder(p.Message, nil, nil, nil, container.NewVScroll(p.lists))
	p.ExtendBaseWidget(p)
	p.load()
	return p
}

// CreateRenderer implements fyne.Widget.
func (p *SharePicker) CreateRenderer() fyne.WidgetRenderer {
	return widget.NewSimpleRenderer(p.content)
}

// MinSize keeps room for two rows of cards.
func (p *SharePicker) MinSize() fyne.Size {
	return p.BaseWidget.MinSize().Max(fyne.NewSize(3*cardSize.Width+4*theme.Padding(), 2*cardSize.Height+60))
}

// load lists the sources on the runner, then shows them.
func (p *SharePicker) load() {
	p.cfg.run(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		srcs, err := p.media.ScreenSources(ctx)
		p.cfg.do(func() { p.show(srcs, err) })
	})
}

// show puts the sources (or the error) on screen and starts the
// thumbnails.
func (p *SharePicker) show(srcs []ScreenSource, err error) {
	if p.isClosed() {
		return
	}
	switch {
	case err != nil:
		p.Message.SetText(err.Error())
		p.Message.Importance = widget.DangerImportance
		p.Message.Refresh()
		return
	case len(srcs) == 0:
		p.Message.SetText("There is no screen or window to share.")
		return
	}
	p.Message.SetText("Choose what to share:")
	var screens, windows []fyne.CanvasObject
	for _, s := range srcs {
		c := newShareCard(s, p.pick)
		p.cards = append(p.cards, c)
		if s.Window {
			windows = append(windows, c)
		} else {
			screens = append(screens, c)
		}
	}
	for _, sec := range []struct {
		title string
		cards []fyne.CanvasObject
	}{{"Screens", screens}, {"Windows", windows}} {
		if len(sec.cards) == 0 {
			continue
		}
		h := widget.NewLabelWithStyle(sec.title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
		p.lists.Add(h)
		p.lists.Add(container.NewGridWrap(cardSize, sec.cards...))
	}
	p.pick(p.cards[0])
	p.startThumbnails()
}

// pick selects a card.
func (p *SharePicker) pick(c *shareCard) {
	if p.selected != nil {
		p.selected.setSelected(false)
	}
	p.selected = c
	c.setSelected(true)
	p.Share.Enable()
}

// Select selects the source with id, as a click on its card does; false
// when it is not listed.
func (p *SharePicker) Select(id string) bool {
	for _, c := range p.cards {
		if c.src.ID == id {
			p.pick(c)
			return true
		}
	}
	return false
}

// Sources returns the listed sources, screens and windows as the backend
// gave them.
func (p *SharePicker) Sources() []ScreenSource {
	out := make([]ScreenSource, len(p.cards))
	for i, c := range p.cards {
		out[i] = c.src
	}
	return out
}

// Selected returns the selected source (zero when none).
func (p *SharePicker) Selected() ScreenSource {
	if p.selected == nil {
		return ScreenSource{}
	}
	return p.selected.src
}

// Thumbnail returns the picture shown for the source with id (nil when
// none).
func (p *SharePicker) Thumbnail(id string) image.Image {
	for _, c := range p.cards {
		if c.src.ID == id {
			return c.img.Image
		}
	}
	return nil
}

// Refreshes returns how many rounds of thumbnails were put on screen.
func (p *SharePicker) Refreshes() int { return p.refreshes }

// startThumbnails takes the thumbnails once (static UI) or every
// ThumbnailRefresh until Close, on a goroutine of its own.
func (p *SharePicker) startThumbnails() {
	ids := make([]string, len(p.cards))
	for i, c := range p.cards {
		ids[i] = c.src.ID
	}
	if p.cfg.static {
		p.cfg.run(func() { p.takeThumbnails(ids) })
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	stop := make(chan struct{})
	p.stop = stop
	go func() {
		t := time.NewTicker(ThumbnailRefresh)
		defer t.Stop()
		for {
			p.takeThumbnails(ids)
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
}

// takeThumbnails asks for a thumbnail of each source and puts them on
// screen together. A source that gives none keeps its last one.
func (p *SharePicker) takeThumbnails(ids []string) {
	imgs := make([]*image.RGBA, len(ids))
	for i, id := range ids {
		if p.isClosed() {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		img, err := p.media.ScreenThumbnail(ctx, id, thumbWidth)
		cancel()
		if err == nil {
			imgs[i] = img
		}
	}
	p.cfg.do(func() {
		if p.isClosed() {
			return
		}
		for i, img := range imgs {
			if img != nil && i < len(p.cards) {
				p.cards[i].setThumbnail(img)
			}
		}
		p.refreshes++
	})
}

func (p *SharePicker) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// Close stops the thumbnails. Idempotent.
func (p *SharePicker) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	if p.stop != nil {
		close(p.stop)
		p.stop = nil
	}
}

// shareCard is one source in the picker: thumbnail over title, framed in
// the theme's primary colour while selected. Tapping selects it.
type shareCard struct {
	widget.BaseWidget

	src    ScreenSource
	img    *canvas.Image
	icon   *canvas.Image // shown until the first thumbnail
	title  *widget.Label
	frame  *canvas.Rectangle
	onTap  func(*shareCard)
	render fyne.CanvasObject
}

func newShareCard(src ScreenSource, onTap func(*shareCard)) *shareCard {
	c := &shareCard{src: src, onTap: onTap}
	c.img = canvas.NewImageFromImage(nil)
	c.img.FillMode = canvas.ImageFillContain
	c.img.ScaleMode = canvas.ImageScaleSmooth
	res := theme.ComputerIcon()
	if src.Window {
		res = theme.WindowMaximizeIcon()
	}
	c.icon = canvas.NewImageFromResource(res)
	c.icon.FillMode = canvas.ImageFillContain
	c.title = widget.NewLabel(src.Title)
	c.title.Truncation = fyne.TextTruncateEllipsis
	c.title.Alignment = fyne.TextAlignCenter
	c.frame = canvas.NewRectangle(color.Transparent)
	c.frame.StrokeWidth = 3
	c.frame.CornerRadius = 6
	bg := canvas.NewRectangle(color.NRGBA{0x20, 0x24, 0x2c, 0xff})
	pic := container.NewStack(bg, container.New(&iconFit{}, c.icon), c.img)
	c.render = container.NewStack(c.frame, container.NewPadded(container.NewBorder(nil, c.title, nil, nil, pic)))
	c.ExtendBaseWidget(c)
	return c
}

// CreateRenderer implements fyne.Widget.
func (c *shareCard) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(c.render) }

// Tapped implements fyne.Tappable.
func (c *shareCard) Tapped(*fyne.PointEvent) {
	if c.onTap != nil {
		c.onTap(c)
	}
}

func (c *shareCard) setSelected(on bool) {
	if on {
		c.frame.StrokeColor = theme.Color(theme.ColorNamePrimary)
		c.frame.FillColor = theme.Color(theme.ColorNameSelection)
	} else {
		c.frame.StrokeColor = color.Transparent
		c.frame.FillColor = color.Transparent
	}
	c.frame.Refresh()
}

func (c *shareCard) setThumbnail(img *image.RGBA) {
	c.img.Image = img
	c.icon.Hide()
	c.img.Refresh()
}

// iconFit centres its objects as a square of a third of the smaller side.
type iconFit struct{}

func (iconFit) Layout(objs []fyne.CanvasObject, s fyne.Size) {
	d := fyne.Min(s.Width, s.Height) / 3
	for _, o := range objs {
		o.Move(fyne.NewPos((s.Width-d)/2, (s.Height-d)/2))
		o.Resize(fyne.NewSquareSize(d))
	}
}

func (iconFit) MinSize([]fyne.CanvasObject) fyne.Size { return fyne.NewSquareSize(16) }
