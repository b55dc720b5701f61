/*
 * A stand-in for Windows' bcryptprimitives.dll, for the Wine smoke test only
 * (scripts/test-windows.sh copies it into the Wine prefix's system32; it is
 * never shipped). Go 1.21 and later take their random numbers from
 * ProcessPrng in bcryptprimitives.dll, which every Windows 10 and 11 has but
 * Debian 12's Wine 8.0 lacks, so Go programs die at start under it ("fatal
 * error: bcryptprimitives.dll not found"). This one gets the bytes from
 * Wine's BCryptGenRandom (the system's preferred RNG).
 */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
	while (len > 0) {
		ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
		if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
			return FALSE;
		data += n;
		len -= n;
	}
	return TRUE;
}
