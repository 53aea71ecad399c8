/* Names of the drop causes, generated from the X-macro in stats.h. */
#include "dataplane/stats.h"

const char *const lr_drop_names[LR_DROP_COUNT] = {
#define LR_DROP_NAME(name, desc) #name,
	LR_FOREACH_DROP(LR_DROP_NAME)
#undef LR_DROP_NAME
};

const char *const lr_drop_descriptions[LR_DROP_COUNT] = {
#define LR_DROP_DESC(name, desc) desc,
	LR_FOREACH_DROP(LR_DROP_DESC)
#undef LR_DROP_DESC
};
