/* Stubs for the ggml symbols that ggml-quants.c links against; see make_ggml_kquant_ref.py. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
void ggml_abort(const char * file, int line, const char * fmt, ...) { fprintf(stderr, "ggml_abort %s:%d\n", file, line); abort(); }
void ggml_log_internal(int level, const char * fmt, ...) {}
size_t ggml_row_size(int type, int64_t ne) { abort(); }
const char * ggml_type_name(int type) { abort(); }
size_t ggml_type_size(int type) { abort(); }
