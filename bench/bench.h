/* lanrage-bench subcommands: each in bench/bench_NAME.c, listed in lanrage_bench_main.c's table. */
#ifndef LR_BENCH_BENCH_H
#define LR_BENCH_BENCH_H

int bench_crypto_main(int argc, char *argv[]);
int bench_pipeline_main(int argc, char *argv[]);

#endif
