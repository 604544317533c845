/* Runs a fuzz target on every file of the directories (or files) named on the command line:
 * libFuzzer's main() without the fuzzing, so that `make test` replays the corpora with gcc. */
#include "tests/fuzz/fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Each input gets a buffer of exactly its size, so that AddressSanitizer sees a read past it. */
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	long size;
	int ret = -1;

	if (!f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fseek(f, 0, SEEK_END) || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		goto out_close;
	buf = malloc(size ? (size_t)size : 1);
	if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size)
		goto out_free;
	LLVMFuzzerTestOneInput(buf, (size_t)size);
	ret = 0;
out_free:
	free(buf);
out_close:
	if (ret)
		fprintf(stderr, "%s: cannot read\n", path);
	fclose(f);
	return ret;
}

static int filter(const struct dirent *d)
{
	return d->d_name[0] != '.';
}

int main(int argc, char **argv)
{
	unsigned n = 0;
	int status = 0;

	for (int i = 1; i < argc; i++) {
		struct dirent **ents;
		struct stat st;
		int m;

		if (stat(argv[i], &st)) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			status |= run_file(argv[i]) ? 1 : 0;
			n++;
			continue;
		}
		m = scandir(argv[i], &ents, filter, alphasort);
		if (m < 0) {
			fprintf(stderr, "%s: %s\n", argv[i], strerror(errno));
			return 1;
		}
		for (int j = 0; j < m; j++) {
			char path[4096];

			snprintf(path, sizeof(path), "%s/%s", argv[i], ents[j]->d_name);
			status |= run_file(path) ? 1 : 0;
			n++;
			free(ents[j]);
		}
		free(ents);
	}
	printf("%s: %u inputs\n", argv[0], n);
	return status;
}
