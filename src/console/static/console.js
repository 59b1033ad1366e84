// loam web console: the only script. Pages are complete without it (they
// are rendered by loamd); with it, a page whose <body data-poll="MS"> is
// set fetches itself every MS milliseconds and swaps in each [data-live]
// region by id, so states, bars and the serial console move without a
// reload; a form's button says what it is doing while the post runs; and
// the create form offers only the images built for the arch chosen.
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

	// Each image option lists its arches in data-arches; one without a
	// build for the chosen arch is hidden, and a hidden choice falls back
	// to the first image offered.
	function offerImages(form) {
		var arch = form.querySelector('select[name=arch]');
		var image = form.querySelector('select[name=image]');
		if (!arch || !image) {
			return;
		}
		Array.prototype.forEach.call(image.options, function (o) {
			var arches = o.getAttribute('data-arches');
			var off = arches !== null && arches.split(' ').indexOf(arch.value) < 0;
			o.hidden = off;
			o.disabled = off;
		});
		var chosen = image.options[image.selectedIndex];
		if (chosen && chosen.disabled) {
			var first = Array.prototype.find.call(image.options, function (o) {
				return !o.disabled;
			});
			if (first) {
				image.value = first.value;
			}
		}
	}

	document.querySelectorAll('form.create').forEach(function (form) {
		offerImages(form);
		form.addEventListener('change', function (ev) {
			if (ev.target.name === 'arch') {
				offerImages(form);
			}
		});
	});

	schedule();
}());
