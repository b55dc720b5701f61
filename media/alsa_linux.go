package media

/*
#cgo pkg-config: alsa
#include <alsa/asoundlib.h>

static void mx_alsa_silent(const char *file, int line, const char *function, int err, const char *fmt, ...) {}
static void mx_alsa_quiet(void) { snd_lib_error_set_handler(mx_alsa_silent); }
*/
import "C"

// quietAudioBackend stops libasound from printing its probing errors
// ("cannot find card '0'", dozens of lines) to stderr when miniaudio falls
// back to ALSA on a machine without a sound card: we report that through
// Player.Fallback and Source.AudioFallback instead. miniaudio dlopens the
// same libasound.so.2, so the handler applies to it.
func quietAudioBackend() { C.mx_alsa_quiet() }
