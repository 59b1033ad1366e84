/*
 * Validators. Each is a whitelist: anything not explicitly allowed is
 * refused, and the message says what is allowed.
 */
#include "lib/valid.h"

#include <string.h>

static bool is_lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

bool loam_has_unsafe_chars(const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c < 0x20 || c == 0x7f || strchr("`$&|;<>(){}[]*?!~#'\"\\", c))
			return true;
	}
	return false;
}

int loam_valid_name(const char *what, const char *s, loam_err *err)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0)
		return loam_fail(err, LOAM_E_INVALID, "%s must not be empty", what);
	if (n > LOAM_NAME_MAX)
		return loam_fail(err, LOAM_E_INVALID, "%s is %zu characters long; the limit is %d",
				 what, n, LOAM_NAME_MAX);
	bool ok = is_lower_alnum(s[0]) && s[n - 1] != '-';
	for (size_t i = 0; ok && i < n; i++)
		ok = is_lower_alnum(s[i]) || s[i] == '-';
	if (!ok)
		return loam_fail(err, LOAM_E_INVALID,
				 "%s '%.*s' is invalid: use lower-case letters, digits and '-', "
				 "starting with a letter or digit",
				 what, 64, loam_has_unsafe_chars(s) ? "(unsafe characters)" : s);
	return 0;
}

int loam_valid_id(const char *what, const char *s, loam_err *err)
{
	size_t n = s ? strlen(s) : 0;
	bool ok = n >= 1 && n <= LOAM_NAME_MAX;
	for (size_t i = 0; ok && i < n; i++)
		ok = is_lower_alnum(s[i]);
	if (!ok)
		return loam_fail(err, LOAM_E_INVALID,
				 "%s must be 1 to %d lower-case letters and digits", what,
				 LOAM_NAME_MAX);
	return 0;
}

int loam_valid_address(const char *s, loam_err *err)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 253)
		return loam_fail(err, LOAM_E_INVALID, "address must be 1 to 253 characters");
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && !strchr(".-:", s[i]))
			return loam_fail(err, LOAM_E_INVALID,
					 "address is invalid: use a DNS name, an IPv4 or an IPv6 "
					 "address (letters, digits, '.', '-' and ':')");
	if (s[0] == '-')
		return loam_fail(err, LOAM_E_INVALID, "address must not start with '-'");
	return 0;
}

int loam_valid_unix_user(const char *s, loam_err *err)
{
	size_t n = s ? strlen(s) : 0;
	bool ok = n > 0 && n <= 32 && ((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_');
	for (size_t i = 1; ok && i < n; i++)
		ok = is_lower_alnum(s[i]) || s[i] == '_' || s[i] == '-';
	if (!ok)
		return loam_fail(err, LOAM_E_INVALID,
				 "user name is invalid: 1 to 32 characters of a-z, 0-9, '_' and "
				 "'-', starting with a letter or '_'");
	return 0;
}

int loam_valid_abs_path(const char *what, const char *s, loam_err *err)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 1024 || s[0] != '/')
		return loam_fail(err, LOAM_E_INVALID,
				 "%s must be an absolute path of at most 1024 "
				 "characters",
				 what);
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && !strchr("._/+-", s[i]))
			return loam_fail(err, LOAM_E_INVALID,
					 "%s may contain only letters, digits and . _ / + -", what);
	if (strstr(s, "/../") || (n >= 3 && strcmp(s + n - 3, "/..") == 0))
		return loam_fail(err, LOAM_E_INVALID, "%s must not contain '..'", what);
	return 0;
}

bool loam_shell_inert_word(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!is_alnum(*s) && !strchr("._/:=@%+,-", *s))
			return false;
	return true;
}

bool loam_valid_artifact_word(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 128 || s[0] == '.' || s[0] == '-')
		return false;
	for (; *s; s++)
		if (!is_alnum(*s) && !strchr(".+~:_-", *s))
			return false;
	return true;
}

bool loam_valid_debian_package(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n < 2 || n > 128 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || strchr("+.-", *s)))
			return false;
	return true;
}

bool loam_valid_http_url(const char *s)
{
	if (!s || strlen(s) > 2048 ||
	    (strncmp(s, "http://", 7) != 0 && strncmp(s, "https://", 8) != 0))
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s == 0x7f || strchr("\"'\\`<>{}|^", *s))
			return false;
	return true;
}

bool loam_valid_install_path(const char *s)
{
	return s && s[0] == '/' && strlen(s) < 3000 && !strstr(s, "/..") && !strstr(s, "/./") &&
	       !loam_has_unsafe_chars(s);
}
