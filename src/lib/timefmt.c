/*
 * See timefmt.h. UTC everywhere: a fleet spans time zones, and the
 * operator's own zone is one subtraction away.
 */
#include "lib/timefmt.h"

#include <stdio.h>
#include <time.h>

int64_t loam_time_wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void utc_parts(int64_t ms, struct tm *tm, int *millis)
{
	int64_t secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
	time_t t = (time_t)secs;
	*millis = (int)(ms - secs * 1000);
	gmtime_r(&t, tm);
}

void loam_time_iso8601(int64_t ms, char out[LOAM_ISO8601_LEN])
{
	struct tm tm;
	int millis = 0;
	utc_parts(ms, &tm, &millis);
	char date[LOAM_ISO8601_LEN];
	if (strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		date[0] = '\0';
	snprintf(out, LOAM_ISO8601_LEN, "%.20s.%03dZ", date, millis);
}

void loam_time_ago(int64_t ms, int64_t now_ms, char *out, size_t size)
{
	int64_t d = now_ms - ms;
	int64_t s = (d >= 0 ? d : -d) / 1000;
	if (s < 1) {
		snprintf(out, size, "just now");
		return;
	}
	static const struct {
		int64_t secs;
		const char *unit;
	} units[] = {{86400, "d"}, {3600, "h"}, {60, "min"}, {1, "s"}};
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (s >= units[i].secs || units[i].secs == 1) {
			if (d >= 0)
				snprintf(out, size, "%lld %s ago", (long long)(s / units[i].secs),
					 units[i].unit);
			else
				snprintf(out, size, "in %lld %s", (long long)(s / units[i].secs),
					 units[i].unit);
			return;
		}
	}
}

void loam_time_human(int64_t ms, int64_t now_ms, char *out, size_t size)
{
	struct tm tm;
	int millis = 0;
	utc_parts(ms, &tm, &millis);
	char date[LOAM_ISO8601_LEN], ago[32];
	if (strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm) == 0)
		date[0] = '\0';
	loam_time_ago(ms, now_ms, ago, sizeof(ago));
	snprintf(out, size, "%s UTC (%s)", date, ago);
}
