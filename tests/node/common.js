// Shared helpers of the Node side of sketchart's tests: load a sketch-rnn-js model into
// @magenta/sketch's SketchRNN, from a URL (the client's own fetch) or from a file.
'use strict';

// stdout carries the JSON result only: the libraries' own console.log messages
// ("Initialized SketchRNN.", tfjs's backend banner) go to stderr
console.log = (...args) => console.error(...args);

const fs = require('fs');
const ms = require('@magenta/sketch');

async function loadModel(source) {
  const model = new ms.SketchRNN(source);
  if (/^https?:\/\//.test(source)) {
    await model.initialize();  // magenta's own loader: fetch(url).json()
  } else {
    const vars = JSON.parse(fs.readFileSync(source, 'utf8'));
    model.instantiateFromJSON(vars[0], vars[1], vars[2]);
  }
  // offsets in dataset units, as sketchart's (magenta-js divides by scale_factor / 2 by
  // default, for p5.js screens)
  model.setPixelFactor(1.0);
  return model;
}

// stroke-3 row (dx, dy, lift) -> the stroke-5 row the model reads
function toStroke5(row) {
  const lift = row[2] > 0.5 ? 1 : 0;
  return [row[0], row[1], 1 - lift, lift, 0];
}

module.exports = {loadModel, toStroke5};
