/* Fuzz target: the config loader, YAML/JSON text to struct tp_config with every check the
 * loader runs. tp_config_load() takes a path, so each input is written to one temporary file
 * in /tmp, made on the first call and removed at exit. */
#include "tests/fuzz/fuzz.h"

#include "core/config/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];
static int fd = -1;

static void remove_file(void)
{
	unlink(path);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tp_cfg_errors errs = {0};
	struct tp_config *cfg;

	if (fd < 0) {
		snprintf(path, sizeof(path), "/tmp/fuzz_config.XXXXXX.yaml");
		fd = mkstemps(path, 5);
		if (fd < 0) {
			perror("mkstemps");
			abort();
		}
		atexit(remove_file);
	}
	if (ftruncate(fd, 0) || pwrite(fd, data, size, 0) != (ssize_t)size) {
		perror(path);
		abort();
	}
	if (tp_config_load(path, &cfg, &errs) == 0)
		tp_config_free(cfg);
	tp_cfg_errors_free(&errs);
	return 0;
}
