// Usage: node pdf.js MODEL INPUT.json
// INPUT: {"strokes": [[dx, dy, lift], ...], "temperatures": [T, ...]} (dataset units).
// Prints, for each T, getPDF after update(zeroInput) and updateStrokes(strokes) as JSON.
'use strict';

const fs = require('fs');
const {loadModel, toStroke5} = require('./common');

async function main() {
  const [source, inputPath] = process.argv.slice(2);
  const input = JSON.parse(fs.readFileSync(inputPath, 'utf8'));
  const model = await loadModel(source);
  let state = model.update(model.zeroInput(), model.zeroState());
  const strokes5 = input.strokes.map(toStroke5);
  if (strokes5.length > 0) {
    state = model.updateStrokes(strokes5, state);
  }
  const n = model.NMIXTURE;
  const out = input.temperatures.map((t) => {
    const pdf = model.getPDF(state, t);
    return {
      temperature: t,
      pi: Array.from(pdf.pi),
      mu_x: Array.from(pdf.muX),
      mu_y: Array.from(pdf.muY),
      sigma_x: Array.from(pdf.sigmaX),
      sigma_y: Array.from(pdf.sigmaY.slice(0, n)),  // magenta-js slices 4N..15N (a typo)
      corr: Array.from(pdf.corr),
      pen: Array.from(pdf.pen),
    };
  });
  process.stdout.write(JSON.stringify(out));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
