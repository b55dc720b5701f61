package media

import "github.com/gen2brain/malgo"

var realAudioBackends = []malgo.Backend{malgo.BackendWasapi, malgo.BackendDsound, malgo.BackendWinmm}
