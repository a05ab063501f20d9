/*
 * The debate tutor's chat widget: mounts rasa-webchat (served by the tutor itself) and
 * connects it to Rasa's socketio channel on the server this script came from.
 *
 * Embed it in any page with one tag (the README shows the CORS setting it needs):
 *   <script src="https://TUTOR-HOST/webhooks/webchat/widget.js" defer></script>
 * Optional attributes: data-storage="local" (keep the conversation after the browser
 * closes; default "session": per tab, kept on reload), data-title, data-socket-path.
 * Any element with data-tutor-open opens the chat; data-tutor-say="text" sends that text.
 * ?class=CODE on the page address joins that class (the student sends "join CODE").
 */
(function () {
  "use strict";

  var script = document.currentScript;
  var base = new URL(".", script.src); // .../webhooks/webchat/
  var options = script.dataset;
  var ready = false; // a session was confirmed on the current connection
  var waiting = [];
  var widget = null; // rasa-webchat's handle: sendMessage(payload, shownText)
  var root = document.createElement("div");
  root.id = "tutor-webchat";

  function add(tag, attributes, onError) {
    var element = document.createElement(tag);
    Object.keys(attributes).forEach(function (key) { element[key] = attributes[key]; });
    if (onError) element.onerror = onError;
    document.head.appendChild(element);
    return element;
  }

  /* The widget's Markdown turns any [bracketed text] into a link to nowhere: a footnote
     number "[10]", an editor's "[sic]". Only a real Markdown link [label](url) stays one. */
  function literalBrackets(text) {
    return text.replace(/(?<!\\)\[([^[\]\n\\]*)\](?!\()/g, "\\[$1\\]");
  }

  function fail() {
    root.className = "tutor-webchat-failed";
    root.textContent = "The chat could not be loaded from " + base.origin + ". Is the tutor running?";
    document.body.appendChild(root);
  }

  function isOpen() {
    return !!root.querySelector(".rw-chat-open");
  }

  function open() {
    var launcher = root.querySelector(".rw-launcher");
    if (!isOpen() && launcher) launcher.click();
  }

  function whenReady(callback) {
    if (ready) callback();
    else waiting.push(callback);
  }

  /* Send a student's text as if typed, once the session is confirmed (Rasa ignores a
     message without a session id), then show the chat. */
  function say(text) {
    whenReady(function () {
      widget.sendMessage(text, text);
      open();
    });
  }

  /* ?class=CODE on the page's address joins that class, once per browser tab. */
  function joinFromAddress() {
    var code = new URLSearchParams(window.location.search).get("class");
    if (!code || !/^[A-Za-z0-9 -]{4,24}$/.test(code)) return;
    try {
      var key = "tutor-joined:" + code;
      if (window.sessionStorage.getItem(key)) return;
      window.sessionStorage.setItem(key, "1");
    } catch (error) { /* storage refused: join anyway */ }
    say("join " + code);
  }

  function onClick(event) {
    var target = event.target.closest ? event.target.closest("[data-tutor-say],[data-tutor-open]") : null;
    if (!target) return;
    event.preventDefault();
    if (target.hasAttribute("data-tutor-say")) say(target.getAttribute("data-tutor-say"));
    else open();
  }

  /* The page can make room for the open chat: <html> gets the class tutor-chat-open. */
  function watchOpen() {
    var sync = function () { document.documentElement.classList.toggle("tutor-chat-open", isOpen()); };
    new MutationObserver(sync).observe(root, { subtree: true, childList: true, attributes: true, attributeFilter: ["class"] });
    sync();
  }

  function mount() {
    document.body.appendChild(root);
    watchOpen();
    joinFromAddress();
    window.WebChat.default(
      {
        socketUrl: base.origin,
        socketPath: options.socketPath || "/socket.io/",
        initPayload: "/greet",
        title: options.title || "Debate tutor",
        subtitle: "Answers from the essay, with its sources",
        inputTextFieldHint: "Type an argument…",
        connectingText: "Connecting to the tutor…",
        params: { storage: options.storage === "local" ? "local" : "session" },
        // Shown while not connected, so a slow start never hides the launcher.
        hideWhenNotConnected: false,
        // Rules would keep the widget hidden until the server sends props Rasa never sends.
        withRules: false,
        showFullScreenButton: true,
        customMessageDelay: function (message) {
          return Math.min(900, Math.max(250, message.length * 4));
        },
        onSocketEvent: {
          // Runs before rasa-webchat's own bot_uttered handler, on the same message object.
          bot_uttered: function (message) {
            if (message && typeof message.text === "string") message.text = literalBrackets(message.text);
          },
          session_confirm: function () {
            // After rasa-webchat's own handler has stored the session id.
            setTimeout(function () {
              ready = true;
              root.setAttribute("data-session", "confirmed");
              waiting.splice(0).forEach(function (callback) { callback(); });
            }, 0);
          },
          disconnect: function () {
            ready = false;
            root.removeAttribute("data-session");
          },
        },
        innerRef: function (handle) {
          if (handle) widget = handle;
        },
      },
      root
    );
  }

  add("link", { rel: "stylesheet", href: new URL("widget.css", base).href });
  document.addEventListener("click", onClick);
  window.DebateTutor = { open: open, say: say, isOpen: isOpen };

  function start() {
    if (window.WebChat && window.WebChat.default) return mount();
    add("script", { src: new URL("rasa-webchat.js", base).href, onload: mount }, fail);
  }
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
