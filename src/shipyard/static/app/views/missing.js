import { h } from "../dom.js";

export function render(main) {
  document.title = "Not found · Shipyard";
  main.append(h("h1", {}, "Not found"), h("p", {}, h("a", { href: "/" }, "Back to the dashboard")));
}
