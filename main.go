// Command mxcall is a desktop video-call app for Matrix (VoIP v1).
//
// main.go only wires packages together; it holds no logic of its own.
package main

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/app"
	"fyne.io/fyne/v2/widget"
)

func main() {
	a := app.NewWithID("im.mxcall.app")
	w := a.NewWindow("MX Call")
	w.SetContent(widget.NewLabel("MX Call"))
	w.Resize(fyne.NewSize(800, 600))
	w.ShowAndRun()
}
