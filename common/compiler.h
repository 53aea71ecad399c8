/* Branch hints and small macros shared by the hot paths. */
#ifndef LR_COMMON_COMPILER_H
#define LR_COMMON_COMPILER_H

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define LR_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define LR_CACHELINE 64

#endif
