// Entry point: styles, language, and the app.

import "maplibre-gl/dist/maplibre-gl.css";
import "./styles.css";
import { render } from "preact";
import { App } from "./components/App";
import { lang, setLang } from "./i18n";

setLang(lang.value);
const root = document.getElementById("app");
if (root) render(<App />, root);
