/* libFuzzer harness for endpoint text: whatever parses must format and parse back equal. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/sockaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	char first[LR_SOCKADDR_STRLEN], second[LR_SOCKADDR_STRLEN];
	union lr_sockaddr a, b;

	if (!text)
		abort();
	memcpy(text, data, size);
	text[size] = '\0';
	if (lr_sockaddr_parse(&a, text) == 0) {
		if (!lr_sockaddr_len(&a))
			abort();
		lr_sockaddr_format(&a, first, sizeof(first));
		if (lr_sockaddr_parse(&b, first) != 0 || !lr_sockaddr_equal(&a, &b))
			abort();
		lr_sockaddr_format(&b, second, sizeof(second));
		if (strcmp(first, second) != 0)
			abort();
	}
	free(text);
	return 0;
}
