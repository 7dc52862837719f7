// The checkout page's live behaviour: the countdown, the copy buttons and
// the state stream. Without this file the page still works: it reloads
// itself every 10 seconds (the <noscript> refresh). Every word it shows
// comes from the server (the page's data attributes and the events), so
// translations live in one place.
(function () {
	"use strict";

	var root = document.getElementById("checkout");
	if (!root) {
		return;
	}
	function $(id) {
		return document.getElementById(id);
	}

	// Countdown, kept against the local clock from the seconds the server
	// counted, so a wrong clock on the phone does not matter.
	var deadline = Date.now() + Number(root.getAttribute("data-expires-in")) * 1000;
	function pad(n) {
		return (n < 10 ? "0" : "") + n;
	}
	function clock(s) {
		var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), x = s % 60;
		return (h > 0 ? h + ":" + pad(m) : String(m)) + ":" + pad(x);
	}
	function tick() {
		var t = $("countdown");
		if (t) {
			t.textContent = clock(Math.max(0, Math.round((deadline - Date.now()) / 1000)));
		}
	}
	tick();
	window.setInterval(tick, 1000);

	// Copy buttons: shown only where the Clipboard API exists (secure
	// contexts); elsewhere the read-only field can still be selected.
	Array.prototype.forEach.call(document.querySelectorAll("button[data-copy]"), function (b) {
		var field = $(b.getAttribute("data-copy"));
		var label = b.textContent;
		if (!field) {
			return;
		}
		b.hidden = !(navigator.clipboard && navigator.clipboard.writeText);
		b.addEventListener("click", function () {
			function done(text) {
				b.textContent = text;
				window.setTimeout(function () { b.textContent = label; }, 2000);
			}
			navigator.clipboard.writeText(field.value).then(function () {
				done(b.getAttribute("data-copied"));
			}, function () {
				field.select();
				done(b.getAttribute("data-failed"));
			});
		});
	});

	function setText(id, text) {
		var el = $(id);
		if (el && el.textContent !== text) {
			el.textContent = text;
		}
	}

	// apply shows one state from the stream. Only what changed is touched,
	// so the live region announces real news.
	function apply(s) {
		root.setAttribute("data-state", s.state);
		$("status").setAttribute("data-state", s.state);
		setText("status-title", s.title);
		setText("status-message", s.message);

		var bar = $("confirmations");
		bar.hidden = !(s.state === "mempool" || s.state === "confirming");
		bar.max = Math.max(s.required_confirmations, 1);
		bar.value = s.confirmations;

		setText("amount-due", s.amount_due);
		setText("amount-paid", s.amount_paid);
		$("paid-row").hidden = /^[0.]*$/.test(s.amount_paid);

		$("pay").hidden = !s.payable;
		$("amount").value = s.remaining;
		$("address").value = s.address;
		var qr = $("qr");
		if (qr.getAttribute("src") !== s.qr_url) {
			qr.setAttribute("src", s.qr_url);
			qr.setAttribute("alt", qr.getAttribute("data-alt").replace("%s", s.uri));
		}
		$("wallet").setAttribute("href", s.uri);
		deadline = Date.now() + s.expires_in * 1000;
		tick();

		var redirect = $("redirect");
		if (s.redirect_url) {
			redirect.setAttribute("href", s.redirect_url);
		}
		$("done").hidden = !s.redirect_url;

		root.setAttribute("data-updates", String(Number(root.getAttribute("data-updates") || 0) + 1));
	}

	if (!window.EventSource) {
		return; // the page stays as served; a reload shows news
	}
	var events = new EventSource(root.getAttribute("data-events"));
	events.addEventListener("state", function (e) {
		var s;
		try {
			s = JSON.parse(e.data);
		} catch (err) {
			return;
		}
		apply(s);
		if (s.final) {
			events.close();
		}
	});
}());
