// The built-in cities of simulated panels (GET /api/cities), named in the page's language.
import { listCities } from "./api.js";
import { t } from "./i18n.js";

let loaded = [];
let loading = null;

/** Fetch the list once (later calls share it); resolves [] when the server cannot say. */
export function loadCities() {
  loading ||= listCities()
    .then((body) => (loaded = Array.isArray(body?.cities) ? body.cities : []))
    .catch(() => {
      loading = null; // try again next time
      return [];
    });
  return loading;
}

/** The cities known so far, each {id, name (translated), time_zone}. */
export function citiesNow() {
  return loaded.map((c) => ({ ...c, name: t(`cities.${c.id}`, { defaultValue: c.name }) }));
}
