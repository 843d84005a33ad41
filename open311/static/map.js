// The /map page: requests of a window from requests.geojson, coloured by status, filtered by
// service, over the city limits when the gateway publishes them. Everything shown comes from
// the public feeds; text goes into the page as text, never as HTML.
(function () {
  "use strict";

  const config = JSON.parse(document.getElementById("map-config").textContent);
  const mapElement = document.getElementById("map");
  const summary = document.getElementById("summary");
  const form = document.getElementById("filters");
  const startInput = document.getElementById("start");
  const endInput = document.getElementById("end");
  const serviceSelect = document.getElementById("service");
  const COLOURS = { open: "#d7301f", closed: "#2c7fb8" };
  const DAY = 24 * 3600 * 1000;

  const map = L.map(mapElement).setView(config.centre, 12);
  if (config.tiles) {
    L.tileLayer(config.tiles, { attribution: config.attribution, maxZoom: 19 }).addTo(map);
  }
  const limitsLayer = L.layerGroup().addTo(map);
  const requestsLayer = L.featureGroup().addTo(map);
  let limitsBounds = null;

  function isoDate(date) {
    return date.toISOString().slice(0, 10);
  }

  function jurisdictionQuery(params) {
    // One jurisdiction: optional. Several: the first is shown (every call must name one).
    if (config.jurisdictions.length > 0) {
      params.set("jurisdiction_id", config.jurisdictions[0]);
    }
    return params;
  }

  function say(text, isError) {
    summary.textContent = text;
    summary.classList.toggle("error", Boolean(isError));
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      return body.map((error) => error.description).join(" ");
    } catch (exc) {
      return "HTTP " + response.status;
    }
  }

  function popup(properties) {
    const list = document.createElement("dl");
    list.className = "popup";
    const shown = [
      ["Request", properties.service_request_id],
      ["Service", properties.service_name],
      ["Status", properties.status],
      ["Requested", properties.requested_datetime],
      ["Address", properties.address],
      ["Description", properties.description],
    ];
    for (const [label, value] of shown) {
      if (value === null || value === undefined || value === "") continue;
      const term = document.createElement("dt");
      term.textContent = label;
      const detail = document.createElement("dd");
      detail.textContent = String(value);
      list.append(term, detail);
    }
    return list;
  }

  async function loadServices() {
    const params = jurisdictionQuery(new URLSearchParams());
    const response = await fetch(config.api + "/services.json?" + params);
    if (!response.ok) return;
    for (const service of await response.json()) {
      const option = document.createElement("option");
      option.value = service.service_code;
      option.textContent = service.service_name;
      serviceSelect.append(option);
    }
  }

  async function loadLimits() {
    // The limits resource may not exist on this gateway: the map works without it.
    for (const id of config.jurisdictions) {
      let response;
      try {
        response = await fetch(config.api + "/jurisdictions/" + encodeURIComponent(id) + ".geojson");
      } catch (exc) {
        continue;
      }
      if (response.status !== 200) continue;
      const layer = L.geoJSON(await response.json(), {
        interactive: false,
        style: { color: "#555", weight: 2, fill: true, fillOpacity: 0.04, className: "city-limits" },
      });
      layer.addTo(limitsLayer);
      limitsBounds = limitsBounds ? limitsBounds.extend(layer.getBounds()) : layer.getBounds();
    }
  }

  async function loadRequests() {
    mapElement.dataset.state = "loading";
    const params = jurisdictionQuery(new URLSearchParams());
    params.set("start_date", startInput.value + "T00:00:00Z");
    params.set("end_date", endInput.value + "T23:59:59Z");
    if (serviceSelect.value) params.set("service_code", serviceSelect.value);
    const response = await fetch(config.api + "/requests.geojson?" + params);
    requestsLayer.clearLayers();
    if (!response.ok) {
      say(await errorText(response), true);
      mapElement.dataset.markers = "0";
      mapElement.dataset.state = "error";
      return;
    }
    const collection = await response.json();
    let drawn = 0;
    for (const feature of collection.features) {
      if (!feature.geometry) continue;
      const [long, lat] = feature.geometry.coordinates;
      const status = feature.properties.status;
      L.circleMarker([lat, long], {
        radius: 6,
        weight: 1,
        color: "#222",
        fillColor: COLOURS[status] || "#777",
        fillOpacity: 0.85,
        className: "request-marker status-" + status,
      })
        .bindPopup(() => popup(feature.properties))
        .addTo(requestsLayer);
      drawn += 1;
    }
    const unlocated = collection.features.length - drawn;
    say(drawn + " requests on the map" + (unlocated ? ", " + unlocated + " without a location" : ""));
    if (limitsBounds) {
      map.fitBounds(limitsBounds);
    } else if (drawn > 0) {
      map.fitBounds(requestsLayer.getBounds(), { maxZoom: 15, padding: [20, 20] });
    }
    mapElement.dataset.markers = String(drawn);
    mapElement.dataset.state = "ready";
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    loadRequests();
  });
  serviceSelect.addEventListener("change", () => loadRequests());

  const today = new Date();
  endInput.value = isoDate(today);
  startInput.value = isoDate(new Date(today.getTime() - 30 * DAY));
  Promise.all([loadServices(), loadLimits()]).then(loadRequests);
})();
