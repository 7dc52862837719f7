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

	// The print button of a receipt: it exists only with a receipt, and may
	// arrive with an update, so clicks are caught on the page.
	function showPrint() {
		Array.prototype.forEach.call(document.querySelectorAll("button[data-print]"), function (b) {
			b.hidden = typeof window.print !== "function";
		});
	}
	showPrint();
	root.addEventListener("click", function (e) {
		if (e.target && e.target.hasAttribute && e.target.hasAttribute("data-print")) {
			window.print();
		}
	});

	// apply shows one state from the stream. The status and the details
	// come rendered by the server with the page's own templates (escaped
	// there); the live region is touched only when its text changes, so it
	// announces real news.
	function apply(s) {
		root.setAttribute("data-state", s.state);
		root.setAttribute("data-status", s.status);
		var status = $("status");
		status.setAttribute("data-state", s.state);
		var t = $("status-title"), m = $("status-message"), est = $("estimate");
		if (!t || t.textContent !== s.title || !m || m.textContent !== s.message ||
			(est ? est.textContent : "") !== (s.estimate || "") || $("confirmations")) {
			status.innerHTML = s.status_html;
		}
		var details = $("details");
		if (details.getAttribute("data-html") !== s.details_html) {
			details.innerHTML = s.details_html;
			details.setAttribute("data-html", s.details_html);
			showPrint();
		}

		var unavailable = $("unavailable");
		unavailable.textContent = s.unavailable || "";
		unavailable.hidden = !s.unavailable;
		$("pay").hidden = !s.payable;
		$("amount").value = s.remaining;
		$("address").value = s.address;
		var warn = $("exchange-warning");
		warn.textContent = s.exchange_warning || "";
		warn.hidden = !s.exchange_warning;
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
