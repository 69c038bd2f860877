// Usage: node sample.js MODEL N TEMPERATURE [MAX_LEN]
// Samples N sketches one at a time with @magenta/sketch's SketchRNN (the loop of its demos:
// update(zeroInput), then getPDF -> sample -> update until the end state or MAX_LEN points).
// Prints {"seconds": s, "sketches": [{"strokes3": [[dx, dy, lift], ...], "ended": bool}]}.
'use strict';

const {loadModel} = require('./common');

async function main() {
  const args = process.argv.slice(2);
  const source = args[0];
  const n = parseInt(args[1], 10);
  const temperature = parseFloat(args[2]);
  const model = await loadModel(source);
  const maxLen = args[3] ? parseInt(args[3], 10) : model.info.max_seq_len;
  const start = process.hrtime.bigint();
  const sketches = [];
  for (let k = 0; k < n; k++) {
    let state = model.update(model.zeroInput(), model.zeroState());
    const strokes3 = [];
    let ended = false;
    for (let i = 0; i < maxLen; i++) {
      const pdf = model.getPDF(state, temperature);
      const stroke = model.sample(pdf);
      if (stroke[4] === 1) {
        ended = true;
        break;
      }
      strokes3.push([stroke[0], stroke[1], stroke[3]]);
      state = model.update(stroke, state);
    }
    sketches.push({strokes3, ended});
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(JSON.stringify({seconds, sketches}));
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(1);
});
