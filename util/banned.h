/* util/banned.h - functions we never call; use snprintf, dv_str_*, fork+exec. */
#ifndef DV_BANNED_H
#define DV_BANNED_H

#define BANNED(f) sorry_##f##_is_banned_in_devenv

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef system
#define system(x) BANNED(system)
#undef popen
#define popen(x, y) BANNED(popen)

#endif
