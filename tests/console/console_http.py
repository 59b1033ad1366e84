"""A cookie-keeping HTTP client for the console tests that does not follow
redirects, so that a test sees each 303 and where it points."""
import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        self.text = body.decode("utf-8", errors="replace")

    @property
    def content_type(self):
        return self.headers.get("Content-Type", "")

    @property
    def location(self):
        return self.headers.get("Location")

    def cookies(self):
        return self.headers.get_all("Set-Cookie") or []

    def csrf(self):
        m = re.search(r'name="csrf" value="([0-9a-f]{64})"', self.text)
        return m.group(1) if m else None


class Client:
    def __init__(self, base):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  _NoRedirect())

    def request(self, method, path, form=None, headers=None, raw=None):
        data = raw if raw is not None else (
            urllib.parse.urlencode(form).encode() if form is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        if data is not None and "Content-Type" not in (headers or {}):
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with self.opener.open(req, timeout=60) as r:
                return Response(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, e.headers, e.read())

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, form, **kw):
        return self.request("POST", path, form=form, **kw)

    def login(self, token):
        """Logs in through the form; returns the POST's response."""
        page = self.get("/login")
        return self.post("/login", {"csrf": page.csrf() or "", "token": token})

    def session_csrf(self, path="/fleet"):
        return self.get(path).csrf()
