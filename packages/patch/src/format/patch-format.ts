// The patch formats this package writes and reads, by the names callers (and repository configs) use.

/** 'native': our format (FORMAT.md); 'bsdiff4': BSDIFF40 with bzip2, what python tufup applies. */
export type PatchFormat = 'native' | 'bsdiff4';
