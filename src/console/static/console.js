// loam web console: the only script. Pages are complete without it (they
// are rendered by loamd); with it, a page whose <body data-poll="MS"> is
// set fetches itself every MS milliseconds and swaps in each [data-live]
// region by id, so states, bars and the serial console move without a
// reload; and a form's button says what it is doing while the post runs.
(function () {
	'use strict';

	var period = Number(document.body.getAttribute('data-poll')) || 0;
	var timer = null;

	function status(text) {
		var el = document.getElementById('updated');
		if (el) {
			el.textContent = text;
		}
	}

	function swap(doc) {
		document.querySelectorAll('[data-live]').forEach(function (el) {
			var fresh = el.id ? doc.getElementById(el.id) : null;
			if (fresh) {
				el.replaceWith(document.importNode(fresh, true));
			}
		});
	}

	function schedule() {
		if (period > 0) {
			timer = window.setTimeout(poll, period);
		}
	}

	function poll() {
		timer = null;
		if (document.hidden) {
			schedule();
			return;
		}
		fetch(window.location.href, {
			credentials: 'same-origin',
			cache: 'no-store',
			headers: {'X-Loam-Poll': '1'}
		}).then(function (r) {
			if (r.redirected && new URL(r.url).pathname === '/login') {
				window.location.assign('/login');
				return null;
			}
			return r.text().then(function (text) {
				swap(new DOMParser().parseFromString(text, 'text/html'));
			});
		}).catch(function () {
			status('loamd is not answering; retrying');
		}).then(schedule);
	}

	document.addEventListener('visibilitychange', function () {
		if (!document.hidden && timer === null && period > 0) {
			poll();
		}
	});

	document.addEventListener('submit', function (ev) {
		var button = ev.submitter || ev.target.querySelector('button[type=submit]');
		if (button && button.getAttribute('data-busy')) {
			button.textContent = button.getAttribute('data-busy');
			window.setTimeout(function () {
				button.disabled = true;
			}, 0);
		}
	});

	schedule();
}());
