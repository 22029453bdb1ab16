// An in-memory SCIM 2.0 server built on SCIMMY and Express, as people deploy it, so the
// benchmark can compare idsync with it. Usage: node scimmy-peer.mjs PORT TOKEN (binds 127.0.0.1).
import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";
import {randomUUID} from "node:crypto";

const [port, token] = process.argv.slice(2);
if (!port || !token) {
    console.error("usage: node scimmy-peer.mjs PORT TOKEN");
    process.exit(2);
}

function declare(resource, unique) {
    const rows = new Map();
    const now = () => new Date().toISOString();
    SCIMMY.Resources.declare(resource)
        .ingress((res, instance) => {
            const data = JSON.parse(JSON.stringify(instance));
            delete data.schemas;
            delete data.meta;
            if (unique) {
                const wanted = String(data[unique]).toLowerCase();
                for (const [id, row] of rows) {
                    if (id !== res.id && String(row[unique]).toLowerCase() === wanted) {
                        throw new SCIMMY.Types.Error(409, "uniqueness", `${unique} is taken`);
                    }
                }
            }
            const existing = res.id ? rows.get(res.id) : undefined;
            if (res.id && !existing) throw new SCIMMY.Types.Error(404, null, `no resource ${res.id}`);
            const id = res.id ?? randomUUID();
            const row = {...data, id, meta: {created: existing?.meta.created ?? now(), lastModified: now()}};
            rows.set(id, row);
            return row;
        })
        .egress((res) => {
            if (res.id) {
                const row = rows.get(res.id);
                if (!row) throw new SCIMMY.Types.Error(404, null, `no resource ${res.id}`);
                return row;
            }
            const all = [...rows.values()];
            return res.filter ? res.filter.match(all) : all;
        })
        .degress((res) => {
            if (!rows.delete(res.id)) throw new SCIMMY.Types.Error(404, null, `no resource ${res.id}`);
        });
}

declare(SCIMMY.Resources.User, "userName");
declare(SCIMMY.Resources.Group, null);

const app = express();
app.use("/scim/v2", new SCIMMYRouters({
    type: "bearer",
    docUri: "https://www.rfc-editor.org/rfc/rfc6750",
    handler: (req) => {
        if (req.header("Authorization") !== `Bearer ${token}`) throw new Error("Authorization failure");
    },
    baseUri: () => `http://127.0.0.1:${port}`,
}));
const server = app.listen(Number(port), "127.0.0.1", () => console.log(`scimmy peer on http://127.0.0.1:${port}/scim/v2`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
