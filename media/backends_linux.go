package media

import "github.com/gen2brain/malgo"

var realAudioBackends = []malgo.Backend{malgo.BackendPulseaudio, malgo.BackendAlsa, malgo.BackendJack}
